"""A "try your model" prediction as a kind of job: queue, claim, apply, reconcile.

The generic parts are the framework's (`jobs`): the message leaves through the
one queue writer (`jobs.queue`) once the row is committed, a worker claims it
with its token once (`jobs.claim`), the answer comes back as a `JobOutcome`
applied by the applier registered here for the kind `predict` (`jobs.apply`),
the statuses move by the one table (`jobs.transitions`), and the one reconciler
(`jobs.reconcile`) ends a prediction nobody will answer. A prediction is
disposable: it is never sent or run again (its asker waits a few seconds, then
asks again), so a lost one ends `error` with a reason that says to try again.
Finished rows are swept after each of the reconciler's passes, so the table
stays small.
"""

import datetime
import json
import logging
import uuid
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from jobs.claim import job_claim_row, job_row_started
from jobs.outcome import JobOutcome, Verdict
from jobs.queue import JobMessage, job_queue
from jobs.queues import JobQueue, JobTask
from jobs.reconcile import EXPIRED, JobRows, JobState
from submissions.prediction_rows import (
    ANSWER_MAX_BYTES,
    WAITING_PREDICTION_STATUSES,
    Prediction,
    PredictionKind,
    PredictionStatus,
)
from workers.sandbox import neutralise_json

logger = logging.getLogger(__name__)

# The kind of job a prediction is: its applier is `prediction_answer_apply`.
PREDICT = "predict"
# How long a finished prediction waits for the page to read it.
ANSWER_KEPT_SECONDS = 120

TIMED_OUT = (
    "The predictor did not answer in time (it may be starting); try again in a "
    "few seconds."
)
STOPPED = "The predictor stopped before it answered; try again in a few seconds."
COULD_NOT_ANSWER = "The predictor could not answer ({detail})."

# What each kind of answer holds, exactly.
ANSWER_KEYS = {
    PredictionKind.PREDICT: frozenset({"top"}),
    PredictionKind.MAPS: frozenset({"size", "maps"}),
    PredictionKind.EXPLAIN: frozenset({"explained"}),
}


@dataclass(frozen=True)
class PredictionJob:
    """What the applier needs of a claimed prediction: which row, which message."""

    pk: int
    token: uuid.UUID

    def __str__(self) -> str:
        return f"prediction {self.pk}"


def prediction_queue(*, prediction: Prediction) -> None:
    """Send the prediction's message once its row is committed (`jobs.queue`).

    A disposable job: the message expires with the prediction's window (nobody
    waits past it), and it is the site's own predictor workers' to answer.
    """
    message = JobMessage(
        task=JobTask.PREDICT,
        queue=JobQueue.PREDICT,
        expires=prediction.expires_at,
        runners_may_take=False,
    )
    job_queue(row=prediction, message=message)


def prediction_claim(
    *, prediction_id: int, job_token: str, worker: str
) -> Prediction | None:
    """Start the prediction if the message is current and its asker still waits;
    None for a stale, duplicate or late message."""

    def start(prediction: Prediction) -> Prediction:
        now = timezone.now()
        prediction.status_set(PredictionStatus.RUNNING)
        prediction.started_at = now
        job_row_started(prediction, worker=worker, now=now)
        return prediction

    return job_claim_row(
        model=Prediction,
        pk=prediction_id,
        related=("submission__assignment",),
        token=job_token,
        claimable=lambda prediction: (
            prediction.status == PredictionStatus.QUEUED
            and timezone.now() <= prediction.expires_at
        ),
        start=start,
    )


def prediction_answer_check(*, kind: str, answer: object) -> dict:
    """Return an answer as it is stored, or raise ValueError saying why not.

    The worker checked the predictor's reply; this holds whatever reaches the
    row to the shape of its kind, to finite JSON and to ANSWER_MAX_BYTES.
    """
    keys = ANSWER_KEYS[PredictionKind(kind)]
    if not isinstance(answer, dict) or set(answer) != keys:
        raise ValueError(f"a {kind} answer holds exactly {', '.join(sorted(keys))}")
    try:
        text = json.dumps(answer, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"the answer is not plain, finite JSON: {exc}") from None
    if len(text.encode()) > ANSWER_MAX_BYTES:
        raise ValueError(f"the answer is larger than {ANSWER_MAX_BYTES // 1024} KB")
    return neutralise_json(json.loads(text))


def prediction_answer_apply(job: PredictionJob, outcome: JobOutcome) -> None:
    """Store how a prediction ended, unless it ended otherwise meanwhile (the
    reconciler gave it up). The applier registered for the kind `predict`.

    An answer that is not a prediction's (`prediction_answer_check`) raises,
    and the framework applies it as the platform's fault instead.
    """
    with transaction.atomic():
        row = Prediction.objects.select_for_update().filter(pk=job.pk).first()
        if (
            row is None
            or row.job_token != job.token
            or row.status != PredictionStatus.RUNNING
        ):
            return
        if outcome.verdict == Verdict.ANSWERED:
            row.answer = prediction_answer_check(kind=row.kind, answer=outcome.result)
            row.finish(PredictionStatus.ANSWERED)
        elif outcome.verdict == Verdict.FAILED:
            row.finish(PredictionStatus.FAILED, reason=outcome.reason)
        elif outcome.verdict == Verdict.ERROR:
            reason = COULD_NOT_ANSWER.format(detail=outcome.reason)
            row.finish(PredictionStatus.ERROR, reason=reason)
        else:
            raise ValueError(f"a prediction does not end {outcome.verdict}")
        # Its worker's last sign of life: the hosts page reads it.
        row.heartbeat_at = row.finished_at
        row.save(
            update_fields=["status", "answer", "reason", "finished_at", "heartbeat_at"]
        )


class PredictionJobs(JobRows):
    """Predictions, as the reconciler sees them: disposable jobs with a window.

    Never sent or run again, so `enqueue`, `resend` and `requeue` are never
    asked of it; were they, the prediction ends as a lost one does.
    """

    def state(self, row: Prediction) -> JobState:
        running = row.status == PredictionStatus.RUNNING
        return JobState(
            created_at=row.created_at,
            enqueued_at=row.created_at,
            sends=1,
            attempts=row.attempts,
            claimed=running,
            has_run=running,
            heartbeat_at=row.heartbeat_at,
            expires_at=row.expires_at,
        )

    def enqueue(self, row: Prediction) -> None:
        self.give_up(row, why=EXPIRED)

    def resend(self, row: Prediction) -> None:
        self.give_up(row, why=EXPIRED)

    def requeue(self, row: Prediction) -> None:
        self.give_up(row, why="run again")

    def cancel(self, row: Prediction) -> None:
        self.give_up(row, why="cancelled")

    def give_up(self, row: Prediction, *, why: str) -> None:
        row.finish(
            PredictionStatus.ERROR, reason=TIMED_OUT if why == EXPIRED else STOPPED
        )
        row.save(update_fields=["status", "reason", "finished_at"])

    def running_on(self, worker: str) -> list[int]:
        running = Prediction.objects.filter(
            status=PredictionStatus.RUNNING, worker=worker
        )
        return list(running.values_list("pk", flat=True))

    def runs_on(self, row: Prediction, worker: str) -> bool:
        return row.status == PredictionStatus.RUNNING and row.worker == worker

    def after_pass(self) -> None:
        predictions_sweep()


def predictions_sweep(*, now: datetime.datetime | None = None) -> int:
    """Delete predictions finished more than ANSWER_KEPT_SECONDS ago; count them.

    Run after each of the reconciler's passes: every prediction is finished
    within its window (or ended by the reconciler), so the table holds the last
    few minutes of asking, whatever a workshop asked in all.
    """
    cutoff = (now or timezone.now()) - datetime.timedelta(seconds=ANSWER_KEPT_SECONDS)
    deleted, _ = Prediction.objects.filter(finished_at__lt=cutoff).delete()
    return deleted


PREDICTION_JOBS = PredictionJobs(
    name="prediction", model=Prediction, active=WAITING_PREDICTION_STATUSES
)
