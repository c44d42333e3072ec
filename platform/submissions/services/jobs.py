"""The one job lifecycle shared by training, evaluation and regrades.

A job is a submission's current `job_token` plus a kind (train or evaluate). It
is queued through the one queue writer (`jobs.queue`: the row says it is due,
then a message leaves through the outbox after commit), claimed by a worker (a
`Run` row, at most one per token and kind), kept alive by a heartbeat
(`heartbeats.py`), recorded when its sandbox ends, and applied: its `JobOutcome`
becomes a status unless the submission moved on meanwhile. Every status change
goes through `submission_move`.

This module is the floor: it imports no task and no feature module (an AST
test in tests/config/test_import_layers.py holds it to that).
"""

import logging
import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs.apply import job_apply as apply
from jobs.claim import job_claim as claim
from jobs.dbconn import db_reconnect_if_cut
from jobs.outcome import JobOutcome, Verdict
from jobs.queue import JobMessage
from jobs.queue import job_queue as queue
from jobs.queues import JobQueue, JobTask
from submissions.models import Run, Status, Submission
from submissions.services.batches import regrade_batch_finish_if_done
from submissions.services.fairness import fair_is_held, fair_next
from submissions.services.grading import grade_record
from submissions.services.moves import PLATFORM_FAULT, submission_move
from workers import sandbox

logger = logging.getLogger(__name__)


def job_message(*, submission: Submission, kind: str) -> JobMessage:
    """Return the message that runs the submission's current job."""
    if kind == Run.Kind.TRAIN:
        return JobMessage(
            task=JobTask.TRAIN,
            queue=submission.assignment.train_queue,
            budget_seconds=submission.assignment.wall_seconds,
        )
    return JobMessage(
        task=JobTask.EVALUATE,
        queue=JobQueue.EVALUATE.value,
        budget_seconds=settings.DOJO_EVAL_WALL_SECONDS,
    )


def job_queue(
    *,
    submission: Submission,
    kind: str,
    status: str | None = None,
    new_token: bool = True,
    fresh: bool = False,
) -> None:
    """Record that a job is due (moving to `status`), send it after commit.

    Through the one queue writer (`jobs.queue`). A training whose participant
    has an earlier one in flight is held instead (no message, `enqueued_at`
    empty): `fairness` says when its turn comes.
    """
    held = kind == Run.Kind.TRAIN and fair_is_held(submission=submission)

    def move() -> None:
        submission_move(submission=submission, status=status)

    queue(
        row=submission,
        message=None if held else job_message(submission=submission, kind=kind),
        new_token=new_token,
        fresh=fresh,
        save=None if status is None else move,
    )


def job_send_next(*, participant_id: int) -> None:
    """Send the participant's next held training, now that it is its turn."""
    with transaction.atomic():
        head = fair_next(participant_id=participant_id)
        if head is None:
            return
        head = Submission.objects.select_for_update().get(pk=head.pk)
        if head.status == Status.QUEUED and head.enqueued_at is None:
            job_queue(submission=head, kind=Run.Kind.TRAIN, new_token=False)


def job_claim(
    *,
    submission_id: int,
    job_token: str,
    kind: str,
    expect: str,
    worker: str,
    queue: str,
) -> Run | None:
    """Start the job if the message is current; return None for stale or duplicates."""
    status = Status.TRAINING if kind == Run.Kind.TRAIN else None
    return claim(
        lock=lambda: (
            Submission.objects.select_for_update().filter(pk=submission_id).first()
        ),
        token=job_token,
        claimable=lambda submission: (
            submission.status == expect
            and not Run.objects.filter(job_token=job_token, kind=kind).exists()
        ),
        start=lambda submission: _start(
            submission, kind=kind, status=status, queue=queue, worker=worker
        ),
    )


def job_claim_regrade(
    *, submission_id: int, batch_id: int, has_model: bool, worker: str
) -> Run | None:
    """Claim a finished submission of a regrade batch for re-evaluation.

    The same claim as `job_claim` for a job that no message carried: a fresh
    token, attempts counted from zero, any old cancel request cleared. A
    submission that cannot be re-evaluated (cancelled, or no stored model) is
    left as it is and only marked handled, so the batch can end.
    """
    with transaction.atomic():
        submission = (
            Submission.objects.select_for_update(of=("self",))
            .select_related("assignment")
            .filter(pk=submission_id, batch_id=batch_id)
            .first()
        )
        if submission is None or not submission.can_move_to(Status.EVALUATING):
            return None
        if not has_model:
            # Status and reason stay; finished_at is what batch progress counts.
            Submission.objects.filter(pk=submission.pk).update(
                finished_at=timezone.now()
            )
            return None
        submission.job_token = uuid.uuid4()
        submission.enqueued_at = timezone.now()
        submission.cancel_requested = False
        submission.attempts = 1
        submission.sends = 0
        return _start(
            submission,
            kind=Run.Kind.EVALUATE,
            status=Status.EVALUATING,
            queue=JobQueue.EVALUATE,
            worker=worker,
        )


def _start(
    submission: Submission, *, kind: str, status: str | None, queue: str, worker: str
) -> Run:
    if status is not None:
        submission_move(submission=submission, status=status)
    else:
        submission.save()
    return run_start(submission=submission, kind=kind, queue=queue, worker=worker)


def run_start(*, submission: Submission, kind: str, queue: str, worker: str) -> Run:
    """Record that a worker started the submission's current job."""
    return Run.objects.create(
        submission=submission,
        kind=kind,
        job_token=submission.job_token,
        queue=queue,
        worker=worker,
        host=worker.rpartition("@")[2] or worker,
        keras_backend=settings.DOJO_KERAS_BACKEND,
        sandbox_backend=settings.DOJO_SANDBOX_BACKEND,
    )


def run_record(
    *, run: Run, result: sandbox.SandboxResult, log: str | None = None
) -> None:
    """Store how a run's sandbox ended and what it used."""
    db_reconnect_if_cut()
    run.finished_at = timezone.now()
    run.exit_code = result.exit_code
    run.outcome = Run.Outcome(str(result.outcome))
    run.duration_seconds = result.wall_seconds
    run.cpu_seconds = result.cpu_seconds
    run.peak_memory_bytes = result.peak_memory_bytes
    run.log = sandbox.neutralise(result.log if log is None else log)
    run.log_truncated = result.log_truncated
    run.sandbox_backend = result.backend
    # All but the heartbeat: it was written meanwhile, and its value there is newer.
    run.save(
        update_fields=[
            field.name
            for field in Run._meta.concrete_fields
            if field.name not in ("id", "heartbeat_at")
        ]
    )


def job_apply(*, run: Run, outcome: JobOutcome) -> None:
    """Apply how a job ended unless the submission has moved on meanwhile.

    Through the one applier (`jobs.apply`), which ends the submission `error`
    when the outcome cannot be applied.
    """
    apply(kind=run.kind, job=run, outcome=outcome)
    if run.kind == Run.Kind.TRAIN:
        # The participant's training in flight ended: their next one may go.
        job_send_next(participant_id=run.submission.participant_id)


def job_platform_error(*, run: Run, exc: Exception) -> None:
    """End a run the platform failed, and its submission `error` (refunded)."""
    logger.exception("Run %s failed on the platform side", run.pk)
    run.finished_at = timezone.now()
    run.outcome = Run.Outcome.PLATFORM_ERROR
    run.log = sandbox.neutralise(f"{run.log}\n[dojo] platform error: {exc}")
    run.save(update_fields=["finished_at", "outcome", "log"])
    job_apply(run=run, outcome=JobOutcome.error(detail=exc))


def run_end(*, run: Run, note: str, outcome: str = "") -> None:
    """End a run that never reached its sandbox, noting why in its log."""
    run.finished_at = timezone.now()
    run.outcome = outcome
    run.log = sandbox.neutralise(f"{run.log}\n[dojo] {note}".lstrip("\n"))
    run.save(update_fields=["finished_at", "outcome", "log"])


def run_outcome_apply(run: Run, outcome: JobOutcome) -> None:
    """Turn a training's or evaluation's outcome into the submission's status.

    The applier submissions registers for both kinds (`jobs.apply`).
    """
    with transaction.atomic():
        submission = (
            Submission.objects.select_for_update(of=("self",))
            .select_related("assignment")
            .get(pk=run.submission_id)
        )
        if submission.job_token != run.job_token or not submission.is_active:
            return
        if submission.cancel_requested:
            outcome = JobOutcome.cancelled()
        _settle(submission, run, outcome)
        if submission.batch_id and not submission.is_active:
            batch_id = submission.batch_id
            transaction.on_commit(
                lambda: regrade_batch_finish_if_done(batch_id=batch_id)
            )


def _settle(submission: Submission, run: Run, outcome: JobOutcome) -> None:
    """Turn an outcome into the submission's next status (the row is locked)."""
    verdict = outcome.verdict
    if verdict == Verdict.GRADED:
        grade_record(
            submission=submission,
            run=run,
            report=outcome.report,
            history=outcome.history,
            history_note=outcome.history_note,
        )
    elif verdict == Verdict.TRAINED:
        job_queue(
            submission=submission,
            kind=Run.Kind.EVALUATE,
            status=Status.EVALUATING,
            fresh=True,
        )
    elif verdict == Verdict.KEEP_PREVIOUS:
        _keep_previous(submission, outcome)
    elif verdict == Verdict.ERROR:
        reason = PLATFORM_FAULT.format(detail=outcome.reason)
        submission_move(submission=submission, status=Status.ERROR, reason=reason)
    else:
        status = {
            Verdict.FAILED: Status.FAILED,
            Verdict.CANCELLED: Status.CANCELLED,
        }[verdict]
        submission_move(submission=submission, status=status, reason=outcome.reason)


def _keep_previous(submission: Submission, outcome: JobOutcome) -> None:
    """End a regrade that gave no report, keeping the grade the row had."""
    grade = submission.current_grade
    if grade is not None:
        graded = (grade.report or {}).get("status", "graded") == "graded"
        submission_move(
            submission=submission,
            status=Status.GRADED if graded else Status.FAILED,
            reason=(
                f"The last regrade did not finish ({outcome.reason}); this grade stays."
            ),
        )
    elif outcome.participant_fault:
        submission_move(
            submission=submission, status=Status.FAILED, reason=outcome.reason
        )
    else:
        submission_move(
            submission=submission,
            status=Status.ERROR,
            reason=PLATFORM_FAULT.format(detail=outcome.reason),
        )
