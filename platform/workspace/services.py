"""Writes on drafts, their versions and help requests.

Nothing typed is lost: a save based on an older revision (another tab, another
device) keeps the text it would replace as a version and says so; a restore or a
reset first keeps the current text when no version holds it yet.
"""

import dataclasses
import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.db.models.functions import Length
from django.utils import timezone

from submissions.models import Submission
from submissions.services.intake import submission_create
from submissions.sourcetext import source_text_check
from workshops.models import Assignment, Enrollment
from workspace import notebooks
from workspace.models import Draft, DraftVersion

Reason = DraftVersion.Reason


@dataclasses.dataclass(frozen=True)
class SaveResult:
    """What a save did: the draft, and the version it kept, if any."""

    draft: Draft
    version: int | None = None
    conflict: str = ""


def draft_text_check(*, text: object) -> str:
    """Return the text when it can be a draft, else refuse it with a reason."""
    if not isinstance(text, str):
        raise ValidationError("The draft must be text.")
    limit = settings.DOJO_UPLOAD_MAX_BYTES
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise ValidationError(
            f"Your draft is {size / 1024:.0f} KB; the limit is {limit / 1024:.0f} KB, "
            "so it was not saved. It is still in the editor: remove pasted data or "
            "outputs to bring it under the limit."
        )
    source_text_check(text=text)
    cells = notebooks.cell_count(text)
    if cells > settings.DOJO_DRAFT_MAX_CELLS:
        raise ValidationError(notebooks.too_many_cells(cells))
    return text


def _check_member(*, participant: AbstractUser, assignment: Assignment) -> None:
    enrolled = Enrollment.objects.filter(
        user=participant, workshop_id=assignment.workshop_id, active=True
    ).exists()
    if not enrolled or (
        not assignment.released
        and not Enrollment.objects.filter(
            user=participant,
            workshop_id=assignment.workshop_id,
            role=Enrollment.Role.INSTRUCTOR,
        ).exists()
    ):
        raise ValidationError("You cannot see this assignment, so it has no draft.")


def _locked_draft(*, participant: AbstractUser, assignment: Assignment) -> Draft:
    """Return the participant's draft, locked for this transaction; make it once."""
    draft = (
        Draft.objects.select_for_update()
        .filter(participant=participant, assignment=assignment)
        .first()
    )
    if draft is not None:
        return draft
    # Two first saves at once (two tabs): one insert wins, neither fails.
    Draft.objects.bulk_create(
        [
            Draft(
                participant=participant,
                assignment=assignment,
                text=notebooks.starter_text(assignment.pk),
                versioned_at=timezone.now(),
            )
        ],
        ignore_conflicts=True,
    )
    draft = Draft.objects.select_for_update().get(
        participant=participant, assignment=assignment
    )
    if draft.version_count == 0:
        _keep(draft, text=draft.text, reason=Reason.STARTER, note="")
    return draft


def _keep(
    draft: Draft,
    *,
    text: str,
    reason: str,
    note: str = "",
    submission: Submission | None = None,
) -> DraftVersion:
    """Add a version (the caller saves the draft) and thin the oldest beyond the cap."""
    draft.version_count += 1
    draft.versioned_at = timezone.now()
    version = DraftVersion.objects.create(
        draft=draft,
        number=draft.version_count,
        text=text,
        reason=reason,
        note=note[:200],
        submission=submission,
        created_at=draft.versioned_at,
    )
    Draft.objects.filter(pk=draft.pk).update(
        version_count=draft.version_count, versioned_at=draft.versioned_at
    )
    _thin(draft)
    return version


def _thin(draft: Draft) -> None:
    """Delete the oldest versions beyond the caps on count and characters kept.

    Submitted versions and the newest always stay.
    """
    sizes = list(
        draft.versions.annotate(size=Length("text"))
        .order_by("number")
        .values_list("pk", "size", "submission_id", "number")
    )
    count, chars = len(sizes), sum(size or 0 for _, size, _, _ in sizes)
    doomed = []
    for pk, size, submission_id, number in sizes:
        if (
            count <= settings.DOJO_DRAFT_MAX_VERSIONS
            and chars <= settings.DOJO_DRAFT_HISTORY_MAX_CHARS
        ):
            break
        if submission_id is None and number != draft.version_count:
            doomed.append(pk)
            count, chars = count - 1, chars - (size or 0)
    if doomed:
        DraftVersion.objects.filter(pk__in=doomed).delete()


def _latest_text(draft: Draft) -> str | None:
    return draft.versions.order_by("-number").values_list("text", flat=True).first()


def _store(
    draft: Draft,
    *,
    text: str,
    base_revision: int | None,
    reason: str,
    note: str = "",
) -> SaveResult:
    """Replace the draft's text, keeping versions so nothing is lost."""
    now = timezone.now()
    conflict = ""
    stale = base_revision is not None and base_revision != draft.revision
    if stale and text != draft.text:
        # Another tab or device saved since this one loaded: keep its text too.
        kept = _keep(
            draft,
            text=draft.text,
            reason=Reason.CONFLICT,
            note="Saved from another tab or device",
        )
        conflict = (
            "This draft was also changed in another tab or device. Both texts are "
            f"kept: the other one is version {kept.number} in the history."
        )
    version = None
    every = datetime.timedelta(seconds=settings.DOJO_DRAFT_VERSION_EVERY_SECONDS)
    due = reason != Reason.EDIT or conflict or now - draft.versioned_at >= every
    if reason == Reason.CHECK and not conflict and text == _latest_text(draft):
        # Checking the same code again keeps no second copy of it.
        due = False
    if reason in (Reason.RESTORE, Reason.RESET, Reason.IMPORT) and not conflict:
        # The text being replaced may not be in any version yet.
        if draft.text != _latest_text(draft) and draft.text.strip():
            _keep(draft, text=draft.text, reason=Reason.EDIT, note="Before " + reason)
    changed = text != draft.text
    if changed or reason != Reason.EDIT:
        draft.text = text
        draft.revision += 1
        draft.updated_at = now
        if due:
            version = _keep(draft, text=text, reason=reason, note=note).number
        Draft.objects.filter(pk=draft.pk).update(
            text=text, revision=draft.revision, updated_at=now
        )
    return SaveResult(draft=draft, version=version, conflict=conflict)


def draft_save(
    *,
    participant: AbstractUser,
    assignment: Assignment,
    text: object,
    base_revision: int | None,
    reason: str = Reason.EDIT,
) -> SaveResult:
    """Save the editor's text; a stale base keeps both texts as versions."""
    text = draft_text_check(text=text)
    _check_member(participant=participant, assignment=assignment)
    with transaction.atomic():
        draft = _locked_draft(participant=participant, assignment=assignment)
        return _store(draft, text=text, base_revision=base_revision, reason=reason)


def draft_version_restore(
    *,
    participant: AbstractUser,
    assignment: Assignment,
    number: int,
    base_revision: int | None = None,
) -> SaveResult:
    """Make an old version the current text, as a new version."""
    _check_member(participant=participant, assignment=assignment)
    with transaction.atomic():
        draft = _locked_draft(participant=participant, assignment=assignment)
        old = draft.versions.filter(number=number).first()
        if old is None:
            raise ValidationError(
                f"Version {number} is not in your history (old versions are thinned)."
            )
        return _store(
            draft,
            text=old.text,
            base_revision=base_revision,
            reason=Reason.RESTORE,
            note=f"Restored version {number}",
        )


def draft_reset(
    *, participant: AbstractUser, assignment: Assignment, base_revision: int | None
) -> SaveResult:
    """Put the starter back as a new version; the old text stays in the history."""
    _check_member(participant=participant, assignment=assignment)
    with transaction.atomic():
        draft = _locked_draft(participant=participant, assignment=assignment)
        return _store(
            draft,
            text=notebooks.starter_text(assignment.pk),
            base_revision=base_revision,
            reason=Reason.RESET,
            note="Reset to the starter",
        )


def draft_submit(
    *,
    participant: AbstractUser,
    assignment: Assignment,
    text: object,
    base_revision: int | None,
) -> tuple[Submission, SaveResult]:
    """Save the text, submit it as an ordinary submission, and version the link."""
    saved = draft_save(
        participant=participant,
        assignment=assignment,
        text=text,
        base_revision=base_revision,
    )
    draft = saved.draft
    upload = SimpleUploadedFile(
        f"{assignment.slug}-draft.py", draft.text.encode("utf-8"), "text/x-python"
    )
    submission = submission_create(
        participant=participant, assignment=assignment, upload=upload
    )
    with transaction.atomic():
        draft = _locked_draft(participant=participant, assignment=assignment)
        version = _keep(
            draft,
            text=saved.draft.text,
            reason=Reason.SUBMIT,
            note="",
            submission=submission,
        )
    return submission, dataclasses.replace(saved, draft=draft, version=version.number)


def draft_import(*, filename: str, raw: bytes) -> str:
    """Return an uploaded .py or .ipynb file as editor text (not saved yet)."""
    limit = settings.DOJO_UPLOAD_MAX_BYTES
    if len(raw) > limit:
        raise ValidationError(
            f"The file is larger than the {limit / 1024:.0f} KB limit. Open only "
            "your training code, without data or notebook outputs."
        )
    name = filename.lower()
    if name.endswith(".ipynb"):
        text = notebooks.notebook_to_percent(raw)
    elif name.endswith(".py"):
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationError(
                "The file is not UTF-8 text. Save it as UTF-8 and open it again."
            ) from None
    else:
        raise ValidationError("Open a Python script (.py) or a Jupyter notebook.")
    return draft_text_check(text=text)
