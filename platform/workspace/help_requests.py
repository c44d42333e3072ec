"""Writes on help requests: ask, withdraw, and the instructor's take, hint and done.

A help request is a short conversation: the participant asks (with a note), an
instructor takes it, may send a hint that the participant's workspace shows,
and closes it; the participant's workspace then says it was closed.
"""

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from workers.sandbox import neutralise
from workshops.models import Assignment, Enrollment
from workspace.models import HelpRequest


def help_request_create(
    *, participant: AbstractUser, assignment: Assignment, note: str = ""
) -> HelpRequest:
    """Put the participant in the help queue (once; a second ask updates the note)."""
    member = Enrollment.objects.filter(
        user=participant, workshop_id=assignment.workshop_id, active=True
    ).exists()
    if not member or not assignment.released:
        raise ValidationError("You cannot see this assignment, so you cannot ask here.")
    if Enrollment.objects.filter(
        user=participant,
        workshop_id=assignment.workshop_id,
        role=Enrollment.Role.INSTRUCTOR,
    ).exists():
        raise ValidationError(
            "You are an instructor here: the help queue is for participants."
        )
    note = " ".join(str(note or "").split())[:200]
    with transaction.atomic():
        open_request = (
            HelpRequest.objects.select_for_update()
            .filter(
                participant=participant,
                assignment=assignment,
                status__in=[HelpRequest.Status.WAITING, HelpRequest.Status.TAKEN],
            )
            .first()
        )
        if open_request is not None:
            if note:
                open_request.note = note
                open_request.save(update_fields=["note"])
            return open_request
        return HelpRequest.objects.create(
            participant=participant,
            assignment=assignment,
            workshop_id=assignment.workshop_id,
            note=note,
        )


def help_request_withdraw(*, participant: AbstractUser, assignment: Assignment) -> int:
    """Withdraw the participant's open request; return how many were withdrawn."""
    return HelpRequest.objects.filter(
        participant=participant,
        assignment=assignment,
        status__in=[HelpRequest.Status.WAITING, HelpRequest.Status.TAKEN],
    ).update(status=HelpRequest.Status.WITHDRAWN, closed_at=timezone.now())


def _instructor_request(*, instructor: AbstractUser, request_id: int) -> HelpRequest:
    help_request = HelpRequest.objects.select_for_update().filter(pk=request_id).first()
    if (
        help_request is None
        or not Enrollment.objects.filter(
            user=instructor,
            workshop_id=help_request.workshop_id,
            role=Enrollment.Role.INSTRUCTOR,
            active=True,
        ).exists()
    ):
        raise ValidationError("No such help request.")
    return help_request


def help_request_take(*, instructor: AbstractUser, request_id: int) -> HelpRequest:
    """Mark the request as taken by this instructor (others then see who)."""
    with transaction.atomic():
        help_request = _instructor_request(instructor=instructor, request_id=request_id)
        if not help_request.is_open:
            raise ValidationError(
                "This request is closed: the participant withdrew it or it was done."
            )
        help_request.status = HelpRequest.Status.TAKEN
        help_request.taken_by = instructor
        help_request.taken_at = timezone.now()
        help_request.save(update_fields=["status", "taken_by", "taken_at"])
        return help_request


def help_request_done(*, instructor: AbstractUser, request_id: int) -> HelpRequest:
    """Close the request as done."""
    with transaction.atomic():
        help_request = _instructor_request(instructor=instructor, request_id=request_id)
        if help_request.is_open:
            help_request.status = HelpRequest.Status.DONE
            help_request.closed_at = timezone.now()
            if help_request.taken_by_id is None:
                help_request.taken_by = instructor
            help_request.save(update_fields=["status", "closed_at", "taken_by"])
        return help_request


HELP_REPLY_MAX_CHARS = 1000


def help_request_reply(
    *, instructor: AbstractUser, request_id: int, text: str
) -> HelpRequest:
    """Send the participant a hint on their open request (it then counts as taken).

    The hint replaces the previous one; the participant's workspace shows it.
    """
    text = neutralise(str(text or "")).strip()
    if not text:
        raise ValidationError("Write a hint first: the reply is empty.")
    if len(text) > HELP_REPLY_MAX_CHARS:
        raise ValidationError(
            f"A hint is at most {HELP_REPLY_MAX_CHARS} characters; this one has "
            f"{len(text)}. Shorten it, or go and talk to them."
        )
    with transaction.atomic():
        help_request = _instructor_request(instructor=instructor, request_id=request_id)
        if not help_request.is_open:
            raise ValidationError(
                "This request is closed: the participant withdrew it or it was done."
            )
        now = timezone.now()
        help_request.reply = text
        help_request.replied_by = instructor
        help_request.replied_at = now
        fields = ["reply", "replied_by", "replied_at"]
        if help_request.status == HelpRequest.Status.WAITING:
            help_request.status = HelpRequest.Status.TAKEN
            help_request.taken_by = instructor
            help_request.taken_at = now
            fields += ["status", "taken_by", "taken_at"]
        help_request.save(update_fields=fields)
        return help_request
