"""The job framework's own task: the one reconciler, on beat's schedule."""

from celery import shared_task

from jobs.policy import TASK_RETRY
from jobs.queues import JobTask
from jobs.reconcile import jobs_reconcile


@shared_task(name=JobTask.RECONCILE.value, **TASK_RETRY)
def reconcile() -> dict[str, int]:
    return jobs_reconcile()
