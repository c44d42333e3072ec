"""Reads on workshops, enrollments and assignments, and who may see what."""

from collections.abc import Iterable

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import Http404
from django.urls import reverse

from workshops.models import Assignment, BoardVersion, Enrollment, Workshop


def enrollment_get(*, user: AbstractUser, workshop: Workshop) -> Enrollment | None:
    """Return the user's active enrollment in the workshop, if any."""
    if not user.is_authenticated:
        return None
    return Enrollment.objects.filter(user=user, workshop=workshop, active=True).first()


def is_instructor(*, user: AbstractUser, workshop: Workshop) -> bool:
    enrollment = enrollment_get(user=user, workshop=workshop)
    return enrollment is not None and enrollment.role == Enrollment.Role.INSTRUCTOR


def workshop_for_member(
    *, user: AbstractUser, slug: str, instructor: bool = False
) -> tuple[Workshop, Enrollment]:
    """Return the workshop and the user's enrollment; refuse everyone else.

    Non-members get a 404 (the workshop's existence is not disclosed); members
    without the instructor role get a 403 on instructor pages.
    """
    # One query for both: every member page starts here.
    enrollment = (
        Enrollment.objects.select_related("workshop")
        .filter(user=user, workshop__slug=slug, active=True)
        .first()
        if user.is_authenticated
        else None
    )
    if enrollment is None:
        raise Http404("No such workshop.")
    if instructor and enrollment.role != Enrollment.Role.INSTRUCTOR:
        raise PermissionDenied("Only the workshop's instructors may see this page.")
    return enrollment.workshop, enrollment


def assignment_for_member(
    *,
    user: AbstractUser,
    workshop_slug: str,
    slug: str,
    instructor: bool = False,
    board_token: bool = False,
) -> tuple[Assignment, Enrollment]:
    """Return a released assignment (any for instructors) and the enrollment.

    With ``board_token``, the assignment carries its workshop's board token as
    read by this query (``assignment.board_token``, None before the first;
    workshops/boards.py): a leaderboard learns whether its cache is current
    without a query of its own.
    """
    workshop, enrollment = workshop_for_member(
        user=user, slug=workshop_slug, instructor=instructor
    )
    found = Assignment.objects.select_related("workshop").filter(
        workshop=workshop, slug=slug
    )
    if board_token:
        found = found.annotate(
            board_token=Subquery(
                BoardVersion.objects.filter(workshop=OuterRef("workshop")).values(
                    "token"
                )
            )
        )
    assignment = found.first()
    if assignment is None or (
        not assignment.released and enrollment.role != Enrollment.Role.INSTRUCTOR
    ):
        raise Http404("No such assignment.")
    return assignment, enrollment


def workshop_list_for_user(*, user: AbstractUser) -> list[Enrollment]:
    return list(
        Enrollment.objects.filter(user=user, active=True)
        .select_related("workshop")
        .order_by("workshop__archived", "-workshop__created_at")
    )


def workshop_by_join_code(*, code: str) -> Workshop | None:
    return Workshop.objects.filter(join_code=(code or "").strip().upper()).first()


def user_can_create_workshops(*, user: AbstractUser) -> bool:
    """Staff, and anyone who already teaches a workshop, may create workshops."""
    if not user.is_authenticated:
        return False
    return (
        user.is_staff
        or Enrollment.objects.filter(
            user=user, role=Enrollment.Role.INSTRUCTOR, active=True
        ).exists()
    )


def assignment_list_visible(
    *, workshop: Workshop, instructor: bool
) -> QuerySet[Assignment]:
    assignments = Assignment.objects.filter(workshop=workshop).order_by("order", "pk")
    return assignments if instructor else assignments.filter(released=True)


def agenda_with_links(
    *, workshop: Workshop, assignments: list[Assignment], note_slugs: Iterable[str]
) -> list[dict]:
    """Return the agenda's items, each with the URL of its notes or of its
    assignment when the member may open it (else None)."""
    assignment_urls = {a.slug: a.get_absolute_url() for a in assignments}
    note_slugs = set(note_slugs)
    items = []
    for item in workshop.agenda or []:
        if not isinstance(item, dict):
            continue
        url = None
        if item.get("notes") in note_slugs:
            url = reverse("workshop-note", args=[workshop.slug, item["notes"]])
        elif item.get("assignment") in assignment_urls:
            url = assignment_urls[item["assignment"]]
        items.append({**item, "url": url})
    return items


def enrollment_list_for_workshop(*, workshop: Workshop) -> QuerySet[Enrollment]:
    return (
        Enrollment.objects.filter(workshop=workshop)
        .select_related("user")
        .order_by("role", "-active", "user__username")
    )
