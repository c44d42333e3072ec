"""Each participant's progress on each assignment, collapsed to one status."""

from django.contrib.auth.models import AbstractUser
from django.db.models import Count, Max, Q, QuerySet

from submissions.models import ACTIVE_STATUSES, Status, Submission
from workshops.models import Assignment

NOT_STARTED, RUNNING, PASSED, FAILED = "not-started", "running", "passed", "failed"
PROGRESS_LABELS = {
    NOT_STARTED: "Not started",
    RUNNING: "Running",
    PASSED: "Passed",
    FAILED: "Failed",
}


def progress_status(*, total: int, active: int, passed: int) -> str:
    """Collapse a participant's submissions to one assignment into one status."""
    if active:
        return RUNNING
    if passed:
        return PASSED
    if total:
        return FAILED
    return NOT_STARTED


def progress_cells_query(**filters) -> QuerySet:
    """Aggregate submissions per (participant, assignment) in one query."""
    return (
        Submission.objects.filter(**filters, reference=False)
        .exclude(status=Status.CANCELLED)
        .values("participant_id", "assignment_id")
        .annotate(
            total=Count("id"),
            active=Count("id", filter=Q(status__in=ACTIVE_STATUSES)),
            passed=Count(
                "id",
                filter=Q(status=Status.GRADED, current_grade__passed_checks=True),
            ),
            best=Max("current_grade__score", filter=Q(status=Status.GRADED)),
        )
    )


def assignment_progress_for_participant(
    *, participant: AbstractUser, assignments: list[Assignment]
) -> list[dict]:
    """Return each assignment with the participant's status and best score."""
    cells = {
        row["assignment_id"]: row
        for row in progress_cells_query(
            participant=participant, assignment__in=[a.pk for a in assignments]
        )
    }
    rows = []
    for assignment in assignments:
        cell = cells.get(assignment.pk, {"total": 0, "active": 0, "passed": 0})
        status = progress_status(
            total=cell["total"], active=cell["active"], passed=cell["passed"]
        )
        rows.append(
            {
                "assignment": assignment,
                "status": status,
                "status_label": PROGRESS_LABELS[status],
                "best": cell.get("best"),
                "submissions": cell["total"],
            }
        )
    return rows
