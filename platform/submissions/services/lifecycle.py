"""Move submissions through their states: enqueue, rerun, cancel, reconcile."""

import datetime
import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from submissions.models import ACTIVE_STATUSES, Run, Status, Submission
from submissions.services.jobs import WORKER_LOST, job_queue, submission_move


def submission_enqueue(*, submission_id: int) -> None:
    """Queue the training of a received submission."""
    with transaction.atomic():
        submission = Submission.objects.select_for_update().get(pk=submission_id)
        if submission.status != Status.RECEIVED:
            return
        submission.sends = 0
        job_queue(submission=submission, kind=Run.Kind.TRAIN, status=Status.QUEUED)


def submission_rerun(*, submission: Submission) -> None:
    """Train the submission again from its code (a new run; old grades stay)."""
    with transaction.atomic():
        submission = Submission.objects.select_for_update().get(pk=submission.pk)
        submission.attempts = 0
        submission.sends = 0
        submission.cancel_requested = False
        job_queue(submission=submission, kind=Run.Kind.TRAIN, status=Status.QUEUED)


def submission_cancel(*, submission: Submission) -> None:
    """Cancel a waiting submission now, or ask its running sandbox to stop."""
    with transaction.atomic():
        submission = Submission.objects.select_for_update().get(pk=submission.pk)
        if submission.status in (Status.RECEIVED, Status.QUEUED):
            submission.job_token = uuid.uuid4()  # the queued message is now stale
            submission_move(
                submission=submission,
                status=Status.CANCELLED,
                reason="Cancelled before it ran.",
            )
        elif submission.status in (Status.TRAINING, Status.EVALUATING):
            submission.cancel_requested = True
            if Run.objects.filter(
                submission=submission, job_token=submission.job_token
            ).exists():
                submission.save()
            else:
                # Waiting for the evaluate queue: nothing runs yet.
                submission.job_token = uuid.uuid4()
                submission_move(
                    submission=submission,
                    status=Status.CANCELLED,
                    reason="Cancelled before it ran.",
                )


def _backoff(submission: Submission) -> datetime.timedelta:
    seconds = settings.DOJO_REQUEUE_AFTER_SECONDS * 2 ** min(submission.sends, 5)
    return datetime.timedelta(seconds=seconds)


def _reconcile_dead_run(submission: Submission, run: Run | None) -> str:
    if run is not None:
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
    submission_move(submission=submission, status=Status.ERROR, reason=WORKER_LOST)
    return "errored"


def submissions_reconcile() -> dict[str, int]:
    """Bring back every submission stuck in an active state; return what was done."""
    now = timezone.now()
    grace = datetime.timedelta(seconds=settings.DOJO_HEARTBEAT_GRACE_SECONDS)
    counts = {"enqueued": 0, "resent": 0, "requeued": 0, "errored": 0, "cancelled": 0}
    active = Submission.objects.filter(status__in=ACTIVE_STATUSES)
    for submission_id in list(active.values_list("pk", flat=True)):
        with transaction.atomic():
            submission = (
                Submission.objects.select_for_update()
                .select_related("assignment")
                .get(pk=submission_id)
            )
            if submission.status == Status.RECEIVED:
                received_for = now - submission.created_at
                if received_for.total_seconds() > settings.DOJO_REQUEUE_AFTER_SECONDS:
                    job_queue(
                        submission=submission, kind=Run.Kind.TRAIN, status=Status.QUEUED
                    )
                    counts["enqueued"] += 1
                continue
            if submission.status not in ACTIVE_STATUSES:
                continue
            run = Run.objects.filter(
                submission=submission, job_token=submission.job_token
            ).first()
            if run is None:
                # Still waiting in a queue: its message may have been lost.
                if now - submission.enqueued_at > _backoff(submission):
                    kind = (
                        Run.Kind.EVALUATE
                        if submission.status == Status.EVALUATING
                        else Run.Kind.TRAIN
                    )
                    job_queue(submission=submission, kind=kind, new_token=False)
                    counts["resent"] += 1
                continue
            if run.finished_at is None and now - run.heartbeat_at > grace:
                counts[_reconcile_dead_run(submission, run)] += 1
    _finish_batches()
    return counts


def _finish_batches() -> None:
    """Close batches whose last submission ended outside a worker (say, errored)."""
    from submissions.models import RegradeBatch
    from submissions.services.regrade import regrade_batch_finish_if_done

    running = RegradeBatch.objects.filter(state=RegradeBatch.State.RUNNING)
    for batch_id in running.values_list("pk", flat=True):
        regrade_batch_finish_if_done(batch_id=batch_id)
