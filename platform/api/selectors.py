"""Reads the API needs: what a user may see, and nothing more.

Every lookup here is scoped to the requesting user, so a view that finds nothing
answers 404 and never reveals that an object it may not show exists.
"""

from django.contrib.auth.models import AbstractUser
from django.db.models import OuterRef, Q, QuerySet, Subquery

from submissions.models import Run, Submission
from workshops.models import Assignment, Enrollment, Workshop


def workshop_list_for_user(*, user: AbstractUser) -> QuerySet[Workshop]:
    """Return the workshops the user takes part in or teaches."""
    return Workshop.objects.filter(
        enrollments__user=user, enrollments__active=True
    ).distinct()


def enrollment_role(*, user: AbstractUser, workshop: Workshop) -> str | None:
    """Return the user's active role in the workshop, or None."""
    return (
        Enrollment.objects.filter(user=user, workshop=workshop, active=True)
        .values_list("role", flat=True)
        .first()
    )


def workshop_get_for_user(*, user: AbstractUser, slug: str) -> Workshop | None:
    """Return the workshop with this slug if the user is enrolled in it."""
    return workshop_list_for_user(user=user).filter(slug=slug).first()


def assignment_list_for_role(
    *, workshop: Workshop, role: str | None
) -> QuerySet[Assignment]:
    """Return the assignments a role sees: instructors see unreleased ones too."""
    # The workshop rides along: `private_revealed` reads whether it is archived.
    assignments = (
        Assignment.objects.filter(workshop=workshop)
        .select_related("workshop")
        .order_by("order")
    )
    if role != Enrollment.Role.INSTRUCTOR:
        assignments = assignments.filter(released=True)
    return assignments


def assignment_list_for_user(
    *, user: AbstractUser, slug: str, workshop_slug: str | None = None
) -> list[tuple[Assignment, str]]:
    """Return each assignment with this slug the user may see, with their role.

    In one query, the workshop named or not (an upload names only the
    assignment when one of the user's workshops has it): instructors see
    unreleased assignments too. The workshop rides along (`private_revealed`
    reads whether it is archived).
    """
    role = Enrollment.objects.filter(
        user=user, workshop=OuterRef("workshop"), active=True
    ).values("role")[:1]
    found = (
        Assignment.objects.filter(slug=slug)
        .annotate(role=Subquery(role))
        .filter(role__isnull=False)
        .select_related("workshop")
        .order_by("workshop__slug")
    )
    if workshop_slug is not None:
        found = found.filter(workshop__slug=workshop_slug)
    return [
        (assignment, assignment.role)
        for assignment in found
        if assignment.released or assignment.role == Enrollment.Role.INSTRUCTOR
    ]


def workshops_taught_by(*, user: AbstractUser) -> QuerySet[Workshop]:
    """Return the workshops in which the user is an active instructor."""
    return Workshop.objects.filter(
        enrollments__user=user,
        enrollments__active=True,
        enrollments__role=Enrollment.Role.INSTRUCTOR,
    )


def is_instructor(*, user: AbstractUser, workshop: Workshop) -> bool:
    """Return whether the user teaches the workshop."""
    return enrollment_role(user=user, workshop=workshop) == Enrollment.Role.INSTRUCTOR


def submission_list_visible_to(*, user: AbstractUser) -> QuerySet[Submission]:
    """Return the user's own submissions and those of the workshops they teach."""
    taught = workshops_taught_by(user=user).values("pk")
    return Submission.objects.filter(
        Q(participant=user) | Q(assignment__workshop__in=taught)
    ).select_related("assignment__workshop", "participant", "current_grade")


def submission_get_visible(*, user: AbstractUser, pk: int) -> Submission | None:
    """Return the submission if the user owns it or teaches its workshop."""
    return submission_list_visible_to(user=user).filter(pk=pk).first()


def submission_list_for_owner(
    *,
    user: AbstractUser,
    workshop_slug: str | None = None,
    assignment_slug: str | None = None,
) -> QuerySet[Submission]:
    """Return the user's own submissions, newest first, optionally filtered."""
    submissions = Submission.objects.filter(participant=user).select_related(
        "assignment__workshop", "participant", "current_grade"
    )
    if workshop_slug:
        submissions = submissions.filter(assignment__workshop__slug=workshop_slug)
    if assignment_slug:
        submissions = submissions.filter(assignment__slug=assignment_slug)
    return submissions.order_by("-created_at", "-pk")


def run_latest_training(*, submission: Submission) -> Run | None:
    """Return the newest training run: its log is the participant's own output.

    Evaluation logs come from the sandbox that holds the hidden test split, so
    they are left to the instructors' pages.
    """
    return (
        Run.objects.filter(submission=submission, kind=Run.Kind.TRAIN)
        .order_by("-started_at", "-pk")
        .first()
    )
