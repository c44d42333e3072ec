"""Reads on drafts, versions and help requests."""

import datetime

from django.contrib.auth.models import AbstractUser
from django.db.models import Sum
from django.db.models.functions import Length
from django.utils import timezone

from checks import selectors as checks_selectors
from submissions.models import Status, Submission
from workshops.models import Assignment, Workshop
from workspace import notebooks
from workspace.models import Draft, DraftVersion, HelpRequest

HISTORY_LIMIT = 200
HELP_QUEUE_LIMIT = 100


def draft_get(*, participant: AbstractUser, assignment: Assignment) -> Draft | None:
    return Draft.objects.filter(participant=participant, assignment=assignment).first()


def draft_state(*, participant: AbstractUser, assignment: Assignment) -> dict:
    """Return what the editor starts from: the draft's text, or the starter."""
    draft = draft_get(participant=participant, assignment=assignment)
    if draft is None:
        return {
            "text": notebooks.starter_text(assignment.pk),
            "revision": 0,
            "saved_at": None,
        }
    return {
        "text": draft.text,
        "revision": draft.revision,
        "saved_at": draft.updated_at.isoformat(),
    }


def draft_version_list(*, draft: Draft | None) -> list[dict]:
    """Return the newest versions first, without their text."""
    if draft is None:
        return []
    rows = draft.versions.order_by("-number").values(
        "number", "reason", "note", "created_at", "submission_id"
    )[:HISTORY_LIMIT]
    return [
        {
            "number": row["number"],
            "reason": row["reason"],
            "label": _version_label(row),
            "note": row["note"],
            "created_at": row["created_at"].isoformat(),
            # The site's clock, 24-hour, as every other page shows times.
            "time": timezone.localtime(row["created_at"]).strftime("%H:%M"),
            "submission_id": row["submission_id"],
        }
        for row in rows
    ]


def _version_label(row: dict) -> str:
    """Say in one phrase where a version came from, each fact once."""
    reason, note = row["reason"], row["note"]
    if reason == DraftVersion.Reason.SUBMIT and row["submission_id"]:
        return f"Submitted as #{row['submission_id']}"
    if reason in (DraftVersion.Reason.RESTORE, DraftVersion.Reason.RESET) and note:
        return note  # "Restored version 3" says more than "Restored"
    label = dict(DraftVersion.Reason.choices).get(reason, reason)
    return f"{label} ({note})" if note else label


def draft_version_get(*, draft: Draft | None, number: int) -> DraftVersion | None:
    if draft is None:
        return None
    return draft.versions.filter(number=number).first()


def draft_version_for_submission(*, submission: Submission) -> DraftVersion | None:
    return (
        DraftVersion.objects.select_related("draft")
        .filter(submission=submission)
        .first()
    )


def help_request_open(
    *, participant: AbstractUser, assignment: Assignment
) -> HelpRequest | None:
    return (
        HelpRequest.objects.select_related("taken_by", "replied_by")
        .filter(
            participant=participant,
            assignment=assignment,
            status__in=[HelpRequest.Status.WAITING, HelpRequest.Status.TAKEN],
        )
        .first()
    )


# How long a closed request still shows in the participant's workspace, so
# they read that it was closed and keep the hint.
HELP_CLOSED_SHOWN = datetime.timedelta(hours=2)


def help_request_for_participant(
    *, participant: AbstractUser, assignment: Assignment
) -> HelpRequest | None:
    """Return the open request, else one an instructor closed lately, else None."""
    found = help_request_open(participant=participant, assignment=assignment)
    if found is not None:
        return found
    return (
        HelpRequest.objects.select_related("taken_by", "replied_by")
        .filter(
            participant=participant,
            assignment=assignment,
            status=HelpRequest.Status.DONE,
            closed_at__gte=timezone.now() - HELP_CLOSED_SHOWN,
        )
        .order_by("-closed_at")
        .first()
    )


def last_error(*, participant: AbstractUser, assignment: Assignment) -> str:
    """Return the reason of the participant's newest failed run or check, if any."""
    latest = (
        Submission.objects.filter(
            participant=participant, assignment=assignment, reference=False
        )
        .order_by("-created_at")
        .values("status", "status_reason")
        .first()
    )
    check = check_run_latest(participant=participant, assignment=assignment)
    if check is not None and check.status in ("failed", "error"):
        return f"Check run: {check.reason or check.status}"[:500]
    if latest and latest["status"] in (Status.FAILED, Status.ERROR):
        return (latest["status_reason"] or latest["status"])[:500]
    return ""


def check_run_latest(*, participant: AbstractUser, assignment: Assignment):
    """Return the participant's newest check run of the assignment, or None."""
    return checks_selectors.check_run_latest(
        participant=participant, assignment=assignment
    )


def help_request_queue(*, workshop: Workshop) -> list[dict]:
    """Return the workshop's open help requests, oldest first, with waiting time."""
    now = timezone.now()
    requests = (
        HelpRequest.objects.filter(
            workshop=workshop,
            status__in=[HelpRequest.Status.WAITING, HelpRequest.Status.TAKEN],
        )
        .select_related("participant", "assignment", "taken_by")
        .order_by("created_at")[:HELP_QUEUE_LIMIT]
    )
    return [
        {
            "id": r.pk,
            "participant": r.participant.username,
            "participant_id": r.participant_id,
            "assignment": r.assignment.title,
            "assignment_slug": r.assignment.slug,
            "note": r.note,
            "status": r.status,
            "taken_by": r.taken_by.username if r.taken_by else "",
            "waiting_seconds": int((now - r.created_at).total_seconds()),
            "created_at": r.created_at.isoformat(),
            "last_error": last_error(
                participant=r.participant, assignment=r.assignment
            ),
        }
        for r in requests
    ]


def draft_bytes_for_participant(participant_id: int) -> int:
    """Return the characters of a participant's drafts and their versions."""
    total = 0
    for rows in (
        Draft.objects.filter(participant_id=participant_id),
        DraftVersion.objects.filter(draft__participant_id=participant_id),
    ):
        total += rows.aggregate(size=Sum(Length("text")))["size"] or 0
    return total


def draft_page_context(submission: Submission) -> dict:
    """Return what the submission page shows of the draft it was made from."""
    return {"draft_version": draft_version_for_submission(submission=submission)}
