"""Celery tasks: each takes ids, re-fetches, and calls one service.

The registered names keep their old `workers.tasks.` prefix, so messages
queued before the tasks moved here still route.
"""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from submissions.queues import JobQueue

# Retry only infrastructure faults; a participant's failing code is a result.
INFRA_RETRY = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 2,
    "max_retries": 3,
    "acks_late": True,
}


@shared_task(name="workers.tasks.train", bind=True, **INFRA_RETRY)
def train(self, submission_id: int, job_token: str) -> None:
    from submissions.services import submission_train

    submission_train(
        submission_id=submission_id,
        job_token=job_token,
        worker=self.request.hostname or "",
        queue=(self.request.delivery_info or {}).get("routing_key")
        or JobQueue.TRAIN_CPU.value,
    )


@shared_task(name="workers.tasks.evaluate", bind=True, **INFRA_RETRY)
def evaluate(self, submission_id: int, job_token: str) -> None:
    from submissions.services import submission_evaluate

    submission_evaluate(
        submission_id=submission_id,
        job_token=job_token,
        worker=self.request.hostname or "",
    )


@shared_task(name="workers.tasks.regrade_chunk", bind=True, **INFRA_RETRY)
def regrade_chunk(self, batch_id: int, submission_ids: list[int]) -> None:
    from submissions.services import regrade_batch_run_chunk

    regrade_batch_run_chunk(
        batch_id=batch_id,
        submission_ids=submission_ids,
        worker=self.request.hostname or "",
    )


@shared_task(name="workers.tasks.reconcile", **INFRA_RETRY)
def reconcile() -> dict[str, int]:
    from submissions.services import submissions_reconcile

    return submissions_reconcile()


@shared_task(name="workers.tasks.broker_cleanup")
def broker_cleanup() -> int:
    from django.conf import settings

    from workers.broker import embedded_broker_cleanup

    return embedded_broker_cleanup(settings.CELERY_BROKER_URL)


@shared_task(name="workers.tasks.predict", ignore_result=True, acks_late=False)
def predict(submission_id: int, request_id: str, pixels: str) -> None:
    """Answer one "try your model" request (disposable: never retried)."""
    from submissions.predictions import prediction_run

    prediction_run(submission_id=submission_id, request_id=request_id, pixels=pixels)


@shared_task(name="submissions.tasks.sweep_work_dirs", **INFRA_RETRY)
def sweep_work_dirs() -> dict[str, int]:
    from submissions.services import work_dirs_sweep

    return work_dirs_sweep()
