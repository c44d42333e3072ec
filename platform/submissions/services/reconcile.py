"""The reconciler: every active submission has a live run or a message due.

The invariant: a submission in `received`, `queued`, `training` or `evaluating`
either has a run for its current job that beats (heartbeat younger than the
grace), or waits for a message whose next send is due at
`enqueued_at + backoff`. Any other state (a dead worker, a lost message, a run
that finished but whose result was never applied, a row claimed without a run)
is repaired here, one row at a time: the job is requeued, or once its attempts
are used up the submission ends `error` (the platform's fault, refunded).
"""

import datetime
import logging
from collections import Counter
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from submissions.models import ACTIVE_STATUSES, Run, Status, Submission
from submissions.services.batches import regrade_batches_finish
from submissions.services.fairness import fair_is_held
from submissions.services.jobs import job_queue
from submissions.services.moves import PLATFORM_FAULT, WORKER_LOST, submission_move

logger = logging.getLogger(__name__)

UNAPPLIED = "the result of its last run was never applied"


@dataclass(frozen=True)
class JobHealth:
    """Where a submission stands against the invariant, and the repair it needs."""

    state: str  # "live", "due" (waiting, next send scheduled) or "broken"
    repair: str = ""  # "enqueue", "resend", "requeue" or "" when none
    run: Run | None = None
    why: str = ""


def _backoff(submission: Submission) -> datetime.timedelta:
    seconds = settings.DOJO_REQUEUE_AFTER_SECONDS * 2 ** min(submission.sends, 5)
    return datetime.timedelta(seconds=seconds)


def _kind(submission: Submission) -> str:
    """Return the kind of job an active submission waits for or runs."""
    if submission.status == Status.EVALUATING:
        return Run.Kind.EVALUATE
    return Run.Kind.TRAIN


def job_health(*, submission: Submission, now: datetime.datetime) -> JobHealth:
    """Say whether an active submission satisfies the invariant at `now`."""
    grace = datetime.timedelta(seconds=settings.DOJO_HEARTBEAT_GRACE_SECONDS)
    if submission.status == Status.RECEIVED:
        waited = now - submission.created_at
        if waited.total_seconds() > settings.DOJO_REQUEUE_AFTER_SECONDS:
            return JobHealth("broken", "enqueue", why="never queued")
        return JobHealth("due")
    run = Run.objects.filter(
        submission=submission, job_token=submission.job_token, kind=_kind(submission)
    ).first()
    if run is None:
        if submission.status == Status.TRAINING:
            # Training without a run: no worker holds it and no message can
            # claim it (a claim expects `queued`).
            return JobHealth("broken", "requeue", why="training without a run")
        if submission.status == Status.QUEUED and fair_is_held(submission=submission):
            # Its message is due when the participant's earlier job ends.
            return JobHealth("due", why="held for fair share")
        if submission.enqueued_at is None:
            return JobHealth("broken", "resend", why="no message was ever sent")
        if now - submission.enqueued_at > _backoff(submission):
            return JobHealth("broken", "resend", run, why="message overdue")
        return JobHealth("due")
    if run.finished_at is None:
        if now - run.heartbeat_at > grace:
            return JobHealth("broken", "requeue", run, why="worker lost")
        return JobHealth("live", run=run)
    if now - run.finished_at > grace:
        return JobHealth("broken", "requeue", run, why=UNAPPLIED)
    # Finished moments ago: its worker is applying the result now.
    return JobHealth("live", run=run)


def _requeue(submission: Submission, health: JobHealth) -> str:
    run = health.run
    if run is not None and run.finished_at is None:
        run.finished_at = timezone.now()
        run.outcome = Run.Outcome.WORKER_LOST
        run.save(update_fields=["finished_at", "outcome"])
    if submission.cancel_requested:
        submission_move(
            submission=submission, status=Status.CANCELLED, reason="Cancelled."
        )
        return "cancelled"
    if submission.attempts < settings.DOJO_MAX_ATTEMPTS:
        if submission.status == Status.EVALUATING:
            job_queue(submission=submission, kind=Run.Kind.EVALUATE)
        else:
            job_queue(submission=submission, kind=Run.Kind.TRAIN, status=Status.QUEUED)
        return "requeued"
    reason = (
        WORKER_LOST
        if health.why == "worker lost"
        else PLATFORM_FAULT.format(detail=health.why)
    )
    submission_move(submission=submission, status=Status.ERROR, reason=reason)
    return "errored"


def _repair(submission: Submission, now: datetime.datetime) -> str | None:
    health = job_health(submission=submission, now=now)
    if health.state != "broken":
        return None
    logger.warning("Reconciling submission %s: %s", submission.pk, health.why)
    if health.repair == "enqueue":
        job_queue(submission=submission, kind=Run.Kind.TRAIN, status=Status.QUEUED)
        return "enqueued"
    if health.repair == "resend":
        job_queue(submission=submission, kind=_kind(submission), new_token=False)
        return "resent"
    return _requeue(submission, health)


def submissions_reconcile() -> dict[str, int]:
    """Repair every active submission that breaks the invariant; count the repairs.

    Each row is repaired in its own transaction; one that cannot be repaired
    now (say, the database dropped the connection) is logged and retried on the
    next pass, and never stops the others.
    """
    now = timezone.now()
    counts: Counter[str] = Counter(
        {"enqueued": 0, "resent": 0, "requeued": 0, "errored": 0, "cancelled": 0}
    )
    active = Submission.objects.filter(status__in=ACTIVE_STATUSES)
    for submission_id in list(active.values_list("pk", flat=True)):
        try:
            with transaction.atomic():
                submission = (
                    Submission.objects.select_for_update()
                    .select_related("assignment")
                    .get(pk=submission_id)
                )
                if submission.status in ACTIVE_STATUSES and (
                    action := _repair(submission, now)
                ):
                    counts[action] += 1
        except Exception:
            logger.exception("Could not reconcile submission %s", submission_id)
            counts["failed"] += 1
    regrade_batches_finish()
    return dict(counts)


def jobs_hand_back(*, worker: str) -> int:
    """Requeue the jobs a stopped worker was running; return how many.

    Used when the operator stops the site: the interruption is nobody's
    fault, so it does not use up one of the submission's attempts.
    """
    handed = 0
    open_runs = Run.objects.filter(worker=worker, finished_at__isnull=True)
    for run_id in list(open_runs.values_list("pk", flat=True)):
        with transaction.atomic():
            run = Run.objects.select_for_update().get(pk=run_id)
            submission = (
                Submission.objects.select_for_update()
                .select_related("assignment")
                .get(pk=run.submission_id)
            )
            current = submission.job_token == run.job_token
            if run.finished_at is not None or not current or not submission.is_active:
                continue
            submission.attempts = max(0, submission.attempts - 1)
            _requeue(submission, JobHealth("broken", "requeue", run, why="stopped"))
            handed += 1
    regrade_batches_finish()
    return handed
