"""Reads on submissions, runs and grades."""

from django.contrib.auth.models import AbstractUser
from django.db.models import QuerySet

from submissions.models import (
    FINAL_STATUSES,
    Grade,
    RegradeBatch,
    Run,
    Status,
    Submission,
)
from workshops.models import Assignment


def submissions_graded_before_version(*, assignment: Assignment) -> QuerySet:
    """Return the submissions whose current grade predates the assignment's version.

    Finished, not cancelled (a cancelled rerun keeps its old grade and cannot
    be re-evaluated), not a reference run (validated again instead): what the
    statistics page counts after a new version, and exactly what its regrade
    button (``selection="older"``) takes.
    """
    return Submission.objects.filter(
        assignment=assignment,
        reference=False,
        status__in=FINAL_STATUSES,
        current_grade__spec_version__lt=assignment.spec_version,
    ).exclude(status=Status.CANCELLED)


def run_latest_model(*, submission: Submission) -> Run | None:
    """Return the newest training run that left a model, if any."""
    return (
        Run.objects.filter(submission=submission, kind=Run.Kind.TRAIN)
        .exclude(artifact_path="")
        .order_by("-started_at", "-pk")
        .first()
    )


def submission_list_for_participant(
    *, participant: AbstractUser, assignment: Assignment
) -> QuerySet[Submission]:
    return (
        Submission.objects.filter(
            participant=participant, assignment=assignment, reference=False
        )
        .select_related("current_grade")
        # The list shows scores; the reports (kilobytes of JSON each) stay unread.
        .defer("current_grade__report", "current_grade__checks")
        .order_by("-created_at")
    )


def grade_list_for_submission(*, submission: Submission) -> QuerySet[Grade]:
    return Grade.objects.filter(submission=submission).order_by("-created_at", "-pk")


def queue_position(*, submission: Submission) -> int | None:
    """Return how many jobs on the same queue are ahead of this one, 1-based."""
    if submission.status != Status.QUEUED or submission.enqueued_at is None:
        return None
    ahead = Submission.objects.filter(
        status=Status.QUEUED,
        assignment__queue=submission.assignment.queue,
        enqueued_at__lt=submission.enqueued_at,
    ).count()
    return ahead + 1


def regrade_batch_progress(*, batch: RegradeBatch) -> dict:
    done = Submission.objects.filter(
        batch=batch, status__in=FINAL_STATUSES, finished_at__gte=batch.created_at
    ).count()
    total = batch.total
    return {
        "total": total,
        "done": done,
        "percent": round(100 * done / total) if total else 100,
        "state": batch.state,
        # Done but not yet marked so (the mark comes after the last chunk):
        # there is nothing left to cancel.
        "cancellable": batch.state == RegradeBatch.State.RUNNING and done < total,
    }
