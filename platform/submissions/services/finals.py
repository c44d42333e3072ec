"""Mark submissions as final: the ones that count on the private ranking.

A participant marks up to the assignment's ``final_limit`` graded submissions
of their own; with none marked, their best on the public part counts. The
choice is fixed once the assignment takes no more submissions. The lock order
is the intake's, Enrollment -> Submission -> Standing, so two marks sent at
once cannot both pass the limit.
"""

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from submissions.models import Status, Submission
from submissions.services.standings import standing_refresh
from workshops.models import Enrollment


def submission_mark_final(
    *,
    participant: AbstractUser,
    submission_id: int,
    final: bool,
    assignment_id: int | None = None,
) -> Submission:
    """Mark (or unmark) one of the participant's graded submissions as final.

    ``assignment_id``, where given, is the assignment the page was about: a
    submission to another one is refused. Raise ``PermissionDenied`` for
    someone else's submission and ``ValidationError`` with a message to act on
    for anything else refused.
    """
    with transaction.atomic():
        submission = (
            Submission.objects.select_related("assignment__workshop")
            .filter(pk=submission_id)
            .first()
        )
        if submission is None or submission.participant_id != participant.pk:
            raise PermissionDenied("You can mark only your own submissions as final.")
        assignment = submission.assignment
        if assignment_id is not None and assignment.pk != assignment_id:
            raise ValidationError(
                f"Submission {submission.pk} belongs to another assignment "
                f"({assignment.title})."
            )
        enrollment = (
            Enrollment.objects.select_for_update()
            .filter(
                user=participant,
                workshop_id=assignment.workshop_id,
                role=Enrollment.Role.PARTICIPANT,
                active=True,
            )
            .first()
        )
        if enrollment is None:
            raise PermissionDenied(
                "Only participants of this workshop choose final submissions."
            )
        closed = assignment.closed_reason(work="changes")
        if closed:
            raise ValidationError(f"{closed} Your final choice is fixed.")
        submission = Submission.objects.select_for_update().get(pk=submission.pk)
        if final == (submission.final_at is not None):
            return submission
        if final:
            if submission.status != Status.GRADED:
                raise ValidationError(
                    "Only a graded submission can be marked final; submission "
                    f"{submission.pk} is {submission.get_status_display().lower()}."
                )
            marked = (
                Submission.objects.filter(
                    participant=participant,
                    assignment=assignment,
                    final_at__isnull=False,
                )
                .exclude(pk=submission.pk)
                .count()
            )
            if marked >= assignment.final_limit:
                raise ValidationError(
                    f"You have already marked {marked} submission"
                    f"{'' if marked == 1 else 's'} as final, the most this "
                    "assignment allows. Unmark one first."
                )
        submission.final_at = timezone.now() if final else None
        submission.save(update_fields=["final_at", "updated_at"])
        standing_refresh(participant_id=participant.pk, assignment_id=assignment.pk)
    return submission
