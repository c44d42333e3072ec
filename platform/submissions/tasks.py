"""Celery tasks: each takes ids, re-fetches, and calls one service.

Nothing imports this module but Celery's autodiscovery: services send by name
through `jobs.outbox`. The names come from `JobTask`.
"""

from celery import shared_task
from django.conf import settings

from jobs.policy import TASK_RETRY
from jobs.queues import JobQueue, JobTask
from submissions.prediction_worker import prediction_run
from submissions.services.execution import submission_evaluate, submission_train
from submissions.services.regrade import regrade_batch_run_chunk
from submissions.services.sweep import work_dirs_sweep
from workers.broker import embedded_broker_cleanup


@shared_task(name=JobTask.TRAIN.value, bind=True, **TASK_RETRY)
def train(self, submission_id: int, job_token: str) -> None:
    submission_train(
        submission_id=submission_id,
        job_token=job_token,
        worker=self.request.hostname or "",
        queue=(self.request.delivery_info or {}).get("routing_key")
        or JobQueue.TRAIN_CPU.value,
    )


@shared_task(name=JobTask.EVALUATE.value, bind=True, **TASK_RETRY)
def evaluate(self, submission_id: int, job_token: str) -> None:
    submission_evaluate(
        submission_id=submission_id,
        job_token=job_token,
        worker=self.request.hostname or "",
    )


@shared_task(name=JobTask.REGRADE_CHUNK.value, bind=True, **TASK_RETRY)
def regrade_chunk(self, batch_id: int, submission_ids: list[int]) -> None:
    regrade_batch_run_chunk(
        batch_id=batch_id,
        submission_ids=submission_ids,
        worker=self.request.hostname or "",
    )


@shared_task(name=JobTask.BROKER_CLEANUP.value)
def broker_cleanup() -> int:
    return embedded_broker_cleanup(settings.CELERY_BROKER_URL)


@shared_task(name=JobTask.PREDICT.value, bind=True, ignore_result=True, acks_late=False)
def predict(self, prediction_id: int, job_token: str) -> None:
    """Answer one "try your model" prediction (disposable: never retried)."""
    prediction_run(
        prediction_id=prediction_id,
        job_token=job_token,
        worker=self.request.hostname or "",
    )


@shared_task(name=JobTask.SWEEP_WORK_DIRS.value, **TASK_RETRY)
def sweep_work_dirs() -> dict[str, int]:
    return work_dirs_sweep()
