"""Validate an assignment's reference solution through the real pipeline.

Today: the first step, a check run of the reference (the check queue, a
sandbox, the structural checks and an indicative accuracy on a public sample),
started by the instructor and shown with its checks. The full training and
grading on the hidden split, and the release gate on its score, are not built
yet (see docs/packs.md, "Authoring"). An assignment whose reference's latest
check failed cannot be released (``validation_release_refusal``, registered
with the workshops' release guards).
"""

import hashlib

from django.contrib.auth.models import AbstractUser

from checks.models import CheckRun, CheckStatus
from checks.selectors import check_run_to_json
from checks.services import check_run_create
from workshops.models import Assignment
from workshops.packs import assignment_solution


def _digest(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()


def validation_start(*, assignment: Assignment, instructor: AbstractUser) -> CheckRun:
    """Start a check run of the assignment's reference solution."""
    return check_run_create(
        participant=instructor,
        assignment=assignment,
        source=assignment_solution(assignment),
    )


def validation_latest(
    *, assignment: Assignment, instructor: AbstractUser
) -> dict | None:
    """Return the instructor's latest check of the current reference, or None."""
    try:
        digest = _digest(assignment_solution(assignment))
    except ValueError:
        return None
    check = (
        CheckRun.objects.filter(
            participant=instructor, assignment=assignment, source_sha256=digest
        )
        .order_by("-created_at", "-pk")
        .first()
    )
    if check is None:
        return None
    shown = check_run_to_json(check=check)
    shown.pop("log")
    shown["log_tail"] = check.log[-4000:]
    seconds = None
    if check.started_at and check.finished_at:
        seconds = (check.finished_at - check.started_at).total_seconds()
    shown["seconds"] = seconds
    return shown


def validation_release_refusal(assignment: Assignment) -> str | None:
    """Return why the assignment may not be released: its reference failed."""
    try:
        digest = _digest(assignment_solution(assignment))
    except ValueError:
        return None
    latest = (
        CheckRun.objects.filter(assignment=assignment, source_sha256=digest)
        .order_by("-created_at", "-pk")
        .values_list("status", "reason")
        .first()
    )
    if latest is None or latest[0] != CheckStatus.FAILED:
        return None
    reason = latest[1] or "a check failed"
    return (
        "The reference solution failed its latest validation "
        f"({reason[:300]}); fix it and validate again before releasing."
    )
