"""Validate an assignment's reference solution through the real pipeline.

"Validate" sends the reference two ways at once: a check run (the check queue,
a sandbox, the structural checks, an indicative accuracy on a public sample:
an answer within a minute) and a reference submission (the training queue, a
training sandbox, the evaluation sandbox with the hidden split: the score,
accuracies and times a participant's submission of it would get here). The
reference submission's training run is one of the assignment's measured runs
(workspace.timings), so a new assignment has a "what to expect" time before
any participant submits.

Release gate (``validation_release_refusal``, registered with the workshops'
release guards): an assignment is not released while its reference's latest
check failed, or while the current reference has no full grading against the
current spec and limits that passed every check with full marks. An
assignment still as a pack of this repository shipped it is trusted
(workshops.shipped: those references are trained and graded by the project's
own tests).
"""

import hashlib

from django.contrib.auth.models import AbstractUser
from django.db import transaction

from checks.models import CheckRun, CheckStatus
from checks.selectors import check_run_to_json
from checks.services import check_run_create
from submissions.models import ACTIVE_STATUSES, Run, Status, Submission
from submissions.services.reference import (
    reference_key,
    reference_submission_create,
    reference_submission_latest,
)
from web.scores import score_text
from workshops.models import Assignment
from workshops.packs import assignment_solution
from workshops.shipped import assignment_reference_shipped

# Scores are floats from the grader: full marks within this much.
FULL_MARKS_SLACK = 1e-6


def _digest(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()


def validation_start(
    *, assignment: Assignment, instructor: AbstractUser
) -> tuple[CheckRun, Submission]:
    """Start a check run and a full training and grading of the reference."""
    source = assignment_solution(assignment)
    with transaction.atomic():
        check = check_run_create(
            participant=instructor, assignment=assignment, source=source
        )
        graded = reference_submission_create(
            instructor=instructor, assignment=assignment, source=source
        )
    return check, graded


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


def _run_seconds(submission: Submission, kind: str) -> float | None:
    run = (
        Run.objects.filter(submission=submission, kind=kind, finished_at__isnull=False)
        .order_by("-started_at", "-pk")
        .values_list("duration_seconds", flat=True)
        .first()
    )
    return run


def _full_marks(submission: Submission) -> float:
    grade = submission.current_grade
    top = (grade.report or {}).get("max_score") if grade else None
    if isinstance(top, int | float) and top > 0:
        return float(top)
    points = submission.assignment.spec.get("score", {}).get("points", 100)
    return float(points) if isinstance(points, int | float) else 100.0


def validation_graded(*, assignment: Assignment) -> dict | None:
    """Return the latest full grading of the current reference, or None.

    Whoever of the workshop's instructors started it: one reference, one answer.
    """
    try:
        digest = _digest(assignment_solution(assignment))
    except ValueError:
        return None
    submission = reference_submission_latest(assignment=assignment, sha256=digest)
    if submission is None:
        return None
    grade = submission.current_grade
    full = _full_marks(submission)
    return {
        "submission": submission,
        "status": submission.status,
        "finished": submission.status not in ACTIVE_STATUSES,
        "reason": submission.status_reason,
        "current": submission.reference_key == reference_key(assignment),
        "score": grade.score if grade else None,
        "full_marks": full,
        "scored_full": bool(grade and grade.score >= full - FULL_MARKS_SLACK),
        "passed_checks": bool(grade and grade.passed_checks),
        "public_accuracy": grade.public_accuracy if grade else None,
        "private_accuracy": grade.private_accuracy if grade else None,
        "checks": (grade.checks or []) if grade else [],
        "spec_version": grade.spec_version if grade else None,
        "training_seconds": _run_seconds(submission, Run.Kind.TRAIN),
        "grading_seconds": _run_seconds(submission, Run.Kind.EVALUATE),
    }


AGAIN = "Press Validate on the assignment's Validate page"


def _graded_refusal(graded: dict | None) -> str | None:
    """Return why the full grading does not let the reference be released."""
    if graded is None:
        return (
            "The reference solution has not been trained and graded on the "
            f"hidden split yet. {AGAIN}, then release once it scores full marks."
        )
    if not graded["finished"]:
        return (
            "The reference solution is still being trained and graded; release "
            "it once its validation shows full marks."
        )
    if not graded["current"]:
        return (
            "The assignment's spec or limits changed since the reference was "
            f"last graded. {AGAIN} again."
        )
    if graded["status"] != Status.GRADED or not graded["passed_checks"]:
        reason = graded["reason"] or "it did not pass its checks"
        return (
            f"The reference solution's full grading failed ({reason[:300]}); "
            "fix the reference or the checks, then validate again."
        )
    if not graded["scored_full"]:
        return (
            f"The reference solution scored {score_text(graded['score'])} of "
            f"{graded['full_marks']:.0f} on the hidden split; a reference must "
            "earn full marks. Improve it or lower the accuracy for full score, "
            "then validate again."
        )
    return None


def validation_release_refusal(assignment: Assignment) -> str | None:
    """Return why the assignment may not be released yet, or None."""
    try:
        digest = _digest(assignment_solution(assignment))
    except ValueError:
        return None  # no reference kept (an admin-made assignment): nothing to run
    latest = (
        CheckRun.objects.filter(assignment=assignment, source_sha256=digest)
        .order_by("-created_at", "-pk")
        .values_list("status", "reason")
        .first()
    )
    if latest is not None and latest[0] == CheckStatus.FAILED:
        reason = latest[1] or "a check failed"
        return (
            "The reference solution failed its latest validation "
            f"({reason[:300]}); fix it and validate again before releasing."
        )
    if assignment_reference_shipped(assignment):
        return None
    return _graded_refusal(validation_graded(assignment=assignment))
