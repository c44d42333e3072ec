"""Move submissions through their states and hand their jobs to the queue."""

import datetime
import logging
import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from submissions.models import ACTIVE_STATUSES, Run, Status, Submission

logger = logging.getLogger(__name__)

WORKER_LOST = (
    "The worker running your submission stopped before it finished. This is the "
    "platform's fault, not yours: submit again, it does not count against your limit."
)


def _send(submission: Submission, kind: str) -> None:
    """Send the submission's current job to its queue (after commit)."""
    from workers import tasks

    assignment = submission.assignment
    args = [submission.pk, str(submission.job_token)]
    if kind == Run.Kind.TRAIN:
        task, queue = tasks.train, assignment.train_queue
        budget = assignment.wall_seconds
    else:
        task, queue = tasks.evaluate, "evaluate"
        budget = settings.DOJO_EVAL_WALL_SECONDS
    # The sandbox enforces the real limit; these only catch a stuck worker.
    task.apply_async(
        args=args, queue=queue, soft_time_limit=budget + 120, time_limit=budget + 180
    )


def _queue_job(submission: Submission, kind: str, *, new_token: bool = True) -> None:
    """Record that a job is due and send it once the transaction commits."""
    if new_token:
        submission.job_token = uuid.uuid4()
    submission.enqueued_at = timezone.now()
    submission.sends += 1
    submission.save()

    def send() -> None:
        try:
            _send(submission, kind)
        except Exception:
            # The row says the job is due; the reconciler sends it again later.
            logger.exception("Could not send submission %s to the queue", submission.pk)

    transaction.on_commit(send)


def submission_enqueue(*, submission_id: int) -> None:
    """Queue the training of a received submission."""
    with transaction.atomic():
        submission = Submission.objects.select_for_update().get(pk=submission_id)
        if submission.status != Status.RECEIVED:
            return
        submission.move_to(Status.QUEUED)
        submission.sends = 0
        _queue_job(submission, Run.Kind.TRAIN)


def submission_rerun(*, submission: Submission) -> None:
    """Train the submission again from its code (a new run; old grades stay)."""
    with transaction.atomic():
        submission = Submission.objects.select_for_update().get(pk=submission.pk)
        submission.move_to(Status.QUEUED)
        submission.attempts = 0
        submission.sends = 0
        submission.cancel_requested = False
        _queue_job(submission, Run.Kind.TRAIN)


def submission_cancel(*, submission: Submission) -> None:
    """Cancel a waiting submission now, or ask its running sandbox to stop."""
    with transaction.atomic():
        submission = Submission.objects.select_for_update().get(pk=submission.pk)
        if submission.status in (Status.RECEIVED, Status.QUEUED):
            submission.move_to(Status.CANCELLED, reason="Cancelled before it ran.")
            submission.job_token = uuid.uuid4()  # the queued message is now stale
            submission.save()
        elif submission.status in (Status.TRAINING, Status.EVALUATING):
            if not Run.objects.filter(
                submission=submission, job_token=submission.job_token
            ).exists():
                # Waiting for the evaluate queue: nothing runs yet.
                submission.move_to(Status.CANCELLED, reason="Cancelled before it ran.")
                submission.job_token = uuid.uuid4()
            submission.cancel_requested = True
            submission.save()


def run_claim(
    *,
    submission_id: int,
    job_token: str,
    kind: str,
    expect: str,
    worker: str,
    queue: str,
) -> Run | None:
    """Start the job if the message is current; return None for stale or duplicates."""
    with transaction.atomic():
        submission = (
            Submission.objects.select_for_update().filter(pk=submission_id).first()
        )
        if (
            submission is None
            or str(submission.job_token) != job_token
            or submission.status != expect
            or Run.objects.filter(job_token=job_token, kind=kind).exists()
        ):
            return None
        if kind == Run.Kind.TRAIN:
            submission.move_to(Status.TRAINING)
        submission.attempts += 1
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


def _backoff(submission: Submission) -> datetime.timedelta:
    seconds = settings.DOJO_REQUEUE_AFTER_SECONDS * 2 ** min(submission.sends, 5)
    return datetime.timedelta(seconds=seconds)


def _reconcile_dead_run(submission: Submission, run: Run | None) -> str:
    if run is not None:
        run.finished_at = timezone.now()
        run.outcome = "worker_lost"
        run.save(update_fields=["finished_at", "outcome"])
    if submission.cancel_requested:
        submission.move_to(Status.CANCELLED, reason="Cancelled.")
        submission.save()
        return "cancelled"
    if submission.attempts < settings.DOJO_MAX_ATTEMPTS:
        if submission.status == Status.EVALUATING:
            _queue_job(submission, Run.Kind.EVALUATE)
        else:
            submission.move_to(Status.QUEUED)
            _queue_job(submission, Run.Kind.TRAIN)
        return "requeued"
    submission.move_to(Status.ERROR, reason=WORKER_LOST)
    submission.save()
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
                    submission.move_to(Status.QUEUED)
                    _queue_job(submission, Run.Kind.TRAIN)
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
                    _queue_job(submission, kind, new_token=False)
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
