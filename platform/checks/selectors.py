"""Reads on check runs: the latest one, and one a user may see."""

from django.contrib.auth.models import AbstractUser
from django.db.models import Q

from checks.models import CheckRun
from workshops.models import Assignment, Enrollment


def check_run_latest(
    *, participant: AbstractUser, assignment: Assignment
) -> CheckRun | None:
    """Return the participant's newest check run of the assignment, or None."""
    return (
        CheckRun.objects.filter(participant=participant, assignment=assignment)
        .order_by("-created_at", "-pk")
        .first()
    )


def check_run_get_visible(*, user: AbstractUser, pk: int) -> CheckRun | None:
    """Return the check if the user made it or teaches its workshop (or is staff)."""
    if not user.is_authenticated:
        return None
    checks = CheckRun.objects.select_related("assignment__workshop")
    if user.is_superuser:
        return checks.filter(pk=pk).first()
    taught = Enrollment.objects.filter(
        user=user, role=Enrollment.Role.INSTRUCTOR, active=True
    ).values("workshop_id")
    return (
        checks.filter(pk=pk)
        .filter(Q(participant=user) | Q(assignment__workshop_id__in=taught))
        .first()
    )


def check_run_to_json(*, check: CheckRun) -> dict:
    """Return what the editor and the API show of a check run."""
    result = check.result or {}
    return {
        "id": check.pk,
        "assignment": check.assignment_id,
        "status": check.status,
        "reason": check.reason,
        "log": check.log,
        "result": {
            "checks": result.get("checks", []),
            "indicative_accuracy": result.get("indicative_accuracy"),
            "feedback": result.get("feedback", []),
            "train_images": result.get("train_images"),
            "public_sample_images": result.get("public_sample_images"),
        },
        "finished": not check.is_active,
        "warm_start": check.warm_start,
        "created_at": check.created_at.isoformat(),
        "started_at": check.started_at.isoformat() if check.started_at else None,
        "finished_at": check.finished_at.isoformat() if check.finished_at else None,
    }
