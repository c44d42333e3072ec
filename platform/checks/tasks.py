"""Celery tasks of check runs: each takes ids and calls one service."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from submissions.queues import JobTask

# Retry only infrastructure faults; a participant's failing code is a result.
INFRA_RETRY = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 2,
    "max_retries": 3,
    "acks_late": True,
}


@shared_task(name=JobTask.CHECK_RUN.value, bind=True, **INFRA_RETRY)
def check_run(self, check_id: int, job_token: str) -> None:
    from checks.execution import check_run_execute

    check_run_execute(
        check_id=check_id, job_token=job_token, worker=self.request.hostname or ""
    )


@shared_task(name=JobTask.CHECK_RECONCILE.value, **INFRA_RETRY)
def reconcile() -> dict[str, int]:
    from checks.services import checks_reconcile

    return checks_reconcile()
