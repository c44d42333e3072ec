"""Celery tasks of check runs: each takes ids and calls one service."""

from celery import shared_task

from jobs.policy import TASK_RETRY
from jobs.queues import JobTask


@shared_task(name=JobTask.CHECK_RUN.value, bind=True, **TASK_RETRY)
def check_run(self, check_id: int, job_token: str) -> None:
    from checks.execution import check_run_execute

    check_run_execute(
        check_id=check_id, job_token=job_token, worker=self.request.hostname or ""
    )
