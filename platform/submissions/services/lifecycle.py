"""Move submissions through their states: enqueue, rerun, cancel."""

import uuid

from django.db import transaction

from submissions.models import Run, Status, Submission
from submissions.services.jobs import job_queue
from submissions.services.moves import submission_move


def submission_enqueue(*, submission_id: int) -> None:
    """Queue the training of a received submission."""
    with transaction.atomic():
        # The assignment rides along (its queue names the message), unlocked.
        submission = (
            Submission.objects.select_for_update(of=("self",))
            .select_related("assignment")
            .get(pk=submission_id)
        )
        if submission.status != Status.RECEIVED:
            return
        job_queue(
            submission=submission, kind=Run.Kind.TRAIN, status=Status.QUEUED, fresh=True
        )


def submission_rerun(*, submission: Submission) -> None:
    """Train the submission again from its code (a new run; old grades stay)."""
    with transaction.atomic():
        submission = Submission.objects.select_for_update().get(pk=submission.pk)
        submission.cancel_requested = False
        job_queue(
            submission=submission, kind=Run.Kind.TRAIN, status=Status.QUEUED, fresh=True
        )


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
