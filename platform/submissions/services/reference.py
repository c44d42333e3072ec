"""Submit an assignment's reference solution as an instructor's validation run.

A reference submission goes the way every submission goes (the queue, a
training sandbox, the evaluation sandbox with the hidden split, a Grade under
the assignment's version), so its score, accuracy and times are what this
deployment gives the reference. It is marked ``reference``: no standing is
made from it, so it never reaches the leaderboard, the progress matrix, the
statistics, the CSV exports, a regrade or anyone's daily limit.
"""

import hashlib

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError

from submissions.models import ACTIVE_STATUSES, Submission
from submissions.services.intake import source_check, submission_store
from workshops.folders import sha256_json
from workshops.models import Assignment, Enrollment

REFERENCE_NAME = "solution.py"


def reference_key(assignment: Assignment) -> str:
    """Return a digest of what a reference run is graded against: spec and limits."""
    return sha256_json(
        {
            "spec": assignment.spec_sha256 or sha256_json(assignment.spec),
            "limits": [
                assignment.wall_seconds,
                assignment.cpu_seconds,
                assignment.memory_mb,
            ],
        }
    )


def reference_submission_create(
    *, instructor: AbstractUser, assignment: Assignment, source: str
) -> Submission:
    """Queue a full training and grading of ``source`` as the assignment's reference.

    Refused for anyone but an instructor of the workshop, in an archived
    workshop, and while an earlier reference run of the assignment is still
    going (one at a time: a second would only cost workers).
    """
    raw = source.encode("utf-8", "surrogatepass")
    source_check(raw, Submission.Format.PY)
    if assignment.workshop.archived:
        raise ValidationError("This workshop is archived; nothing is validated.")
    submission = Submission(
        participant=instructor,
        assignment=assignment,
        original_name=REFERENCE_NAME,
        format=Submission.Format.PY,
        sha256=hashlib.sha256(raw).hexdigest(),
        size=len(raw),
        reference=True,
        reference_key=reference_key(assignment),
    )
    return submission_store(
        submission,
        filename=REFERENCE_NAME,
        raw=raw,
        allowed=lambda: _reference_allowed(
            instructor=instructor, assignment=assignment
        ),
    )


def _reference_allowed(*, instructor: AbstractUser, assignment: Assignment) -> None:
    """Refuse anyone but an active instructor, and a second run while one goes."""
    teaches = (
        Enrollment.objects.select_for_update()
        .filter(
            user=instructor,
            workshop=assignment.workshop,
            role=Enrollment.Role.INSTRUCTOR,
            active=True,
        )
        .exists()
    )
    if not teaches:
        raise ValidationError(
            "Only an instructor of the workshop validates its reference."
        )
    running = Submission.objects.filter(
        assignment=assignment, reference=True, status__in=ACTIVE_STATUSES
    ).exists()
    if running:
        raise ValidationError(
            "The reference is already being trained and graded; wait "
            "for that run to finish."
        )


def reference_submission_latest(
    *, assignment: Assignment, sha256: str
) -> Submission | None:
    """Return the newest reference run of this exact source, or None."""
    return (
        Submission.objects.filter(assignment=assignment, reference=True, sha256=sha256)
        .select_related("current_grade")
        .order_by("-created_at", "-pk")
        .first()
    )
