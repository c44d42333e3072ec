"""Accept a participant's upload: validate it, store it, queue its training."""

import contextlib
import datetime
import hashlib
import logging
import os
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import OperationalError, transaction
from django.utils import timezone

from jobs.dbconn import db_retryable
from submissions.models import Status, Submission
from submissions.services.fairness import fair_refuse_if_full
from submissions.services.standings import standing_refresh
from submissions.sourcetext import source_text_check
from workers.notebook import NotebookRefused, notebook_to_script
from workshops.models import Assignment, Enrollment

EXTENSIONS = {".py": Submission.Format.PY, ".ipynb": Submission.Format.IPYNB}


def _format_of(name: str) -> str:
    if not name or name != name.strip() or "/" in name or "\\" in name:
        raise ValidationError(
            f"The file name “{name}” is not a plain file name. Rename the file "
            "(letters, digits, dots, dashes) and upload it again."
        )
    if name.startswith(".") or any(ord(c) < 32 for c in name) or len(name) > 150:
        raise ValidationError(
            "The file name is hidden, too long or has control characters. "
            "Rename it, for example to train.py, and upload it again."
        )
    for ext, fmt in EXTENSIONS.items():
        if name.lower().endswith(ext):
            return fmt
    raise ValidationError(
        f"“{name}” is neither a Python script (.py) nor a Jupyter notebook "
        "(.ipynb). Upload your training code as one of those."
    )


def _read_limited(upload: UploadedFile) -> bytes:
    limit = settings.DOJO_UPLOAD_MAX_BYTES
    if upload.size is not None and upload.size > limit:
        raise ValidationError(
            f"The file is {upload.size / 1024:.0f} KB; the limit is "
            f"{limit / 1024:.0f} KB. Submit only your training code: leave out "
            "data, models and notebook outputs (Cell > All Output > Clear)."
        )
    upload.seek(0)
    raw = upload.read(limit + 1)
    if len(raw) > limit:
        raise ValidationError(
            f"The file is larger than the {limit / 1024:.0f} KB limit. Submit only "
            "your training code, without data or notebook outputs."
        )
    if not raw.strip():
        raise ValidationError("The file is empty. Choose the file with your code.")
    return raw


def source_check(raw: bytes, fmt: str) -> None:
    """Refuse code that cannot run, so the participant learns it in seconds.

    Whatever the upload holds, the answer is a ValidationError (a 400 with a
    reason), never a crash: compiling hostile source can raise MemoryError or
    RecursionError, and a notebook's JSON can be anything.
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"The file is not UTF-8 text (byte {exc.start} is not valid). Save it "
            "as UTF-8 in your editor and upload it again."
        ) from None
    source_text_check(text=text)
    if fmt == Submission.Format.IPYNB:
        try:
            text = notebook_to_script(raw)
        except NotebookRefused as exc:
            raise ValidationError(str(exc)) from None
        except (MemoryError, RecursionError):
            raise ValidationError(_TOO_COMPLEX) from None
        except Exception as exc:  # noqa: BLE001 (any reader error is the file's)
            raise ValidationError(
                "The notebook could not be read as a Jupyter notebook "
                f"({type(exc).__name__}). Save it again from Jupyter "
                "(File > Save) and upload the .ipynb file."
            ) from None
    where_cell = fmt != Submission.Format.PY
    try:
        compile(text, "submission.py", "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = "a cell" if where_cell else f"line {exc.lineno}"
        raise ValidationError(
            f"Python cannot read your code: {exc.msg} at {where}. Fix it and "
            "upload again."
        ) from None
    except (MemoryError, RecursionError, OverflowError):
        raise ValidationError(_TOO_COMPLEX) from None
    except Exception as exc:  # noqa: BLE001 (ValueError and kin: still the file's)
        raise ValidationError(
            f"Python cannot read your code ({type(exc).__name__}). Fix it and "
            "upload again."
        ) from None


_TOO_COMPLEX = (
    "Python cannot compile your code: an expression is nested too deeply or is "
    "too long (for example thousands of `+` or brackets in one line). Split it "
    "into smaller statements and upload again."
)


def _check_allowed(*, participant: AbstractUser, assignment: Assignment) -> None:
    """Refuse a submission the workshop rules forbid.

    Runs in the upload's transaction and locks the participant's enrollment
    first: two uploads by one participant then count today's submissions in
    turn, so the daily limit holds however many arrive at once. The lock is the
    participant's own row; other participants never wait for it.
    """
    workshop = assignment.workshop
    enrolled = (
        Enrollment.objects.select_for_update()
        .filter(user=participant, workshop=workshop, active=True)
        .order_by("pk")
        .first()
    )
    if enrolled is None:
        raise ValidationError(
            f"You are not enrolled in “{workshop.title}”. Join it with the join "
            "code your instructor gave you, then submit again."
        )
    if enrolled.role == Enrollment.Role.INSTRUCTOR:
        # Not a participant's attempt: it would count nowhere and cost workers.
        raise ValidationError(
            f"You are an instructor of “{workshop.title}”: submissions are for "
            "participants, so nothing was submitted. Use Check to try code; "
            "it is graded on a slice and counts nowhere."
        )
    if not assignment.released and not workshop.archived:
        raise ValidationError("This assignment has not been released yet.")
    if (closed := assignment.closed_reason(work="submissions")) is not None:
        raise ValidationError(closed)
    used = submissions_used_today(participant=participant, assignment=assignment)
    if used >= assignment.daily_limit:
        raise ValidationError(
            f"You have used all {assignment.daily_limit} submissions for today. "
            "Improve your model locally and try again tomorrow."
        )
    fair_refuse_if_full(participant_id=participant.pk)


def submissions_used_today(*, participant: AbstractUser, assignment: Assignment) -> int:
    """Count today's submissions; platform errors are refunded."""
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return (
        Submission.objects.filter(
            participant=participant,
            assignment=assignment,
            reference=False,
            created_at__gte=start,
            created_at__lt=start + datetime.timedelta(days=1),
        )
        .exclude(status=Status.ERROR)
        .count()
    )


COMMIT_TRIES = 2
logger = logging.getLogger(__name__)
# Commits the database aborted and the intake ran again, since the process
# started: with no shared row in the upload's transaction these should be rare.
COMMIT_RETRIES = {"count": 0}

NO_SPACE = (
    "The server has no room to store your file right now, so nothing was saved "
    "and nothing was counted. Try again in a few minutes."
)


def file_store(submission: Submission, filename: str, raw: bytes) -> None:
    """Store the upload whole or not at all: a full disk leaves no partial file."""
    field = submission.file
    name = field.field.generate_filename(submission, filename)
    try:
        field.name = field.storage.save(name, ContentFile(raw))
    except OSError as exc:
        with contextlib.suppress(OSError):
            field.storage.delete(name)
            os.rmdir(os.path.dirname(field.storage.path(name)))
        raise ValidationError(NO_SPACE) from exc


def submission_create(
    *, participant: AbstractUser, assignment: Assignment, upload: UploadedFile | None
) -> Submission:
    """Validate and store an upload, then queue its training once it is committed."""
    if upload is None:
        raise ValidationError("Choose a .py or .ipynb file with your training code.")
    fmt = _format_of(upload.name or "")
    raw = _read_limited(upload)
    source_check(raw, fmt)
    for attempt in range(1, COMMIT_TRIES + 1):
        try:
            return _create(
                participant=participant,
                assignment=assignment,
                fmt=fmt,
                raw=raw,
                name=upload.name,
            )
        except OperationalError as exc:
            # The upload's transaction touches only the participant's rows
            # (enrollment, submission, standing), so a deadlock is rare; if
            # PostgreSQL still aborts one, nothing was kept: run it once more
            # rather than answer 500, and count it.
            if attempt == COMMIT_TRIES or not db_retryable(exc):
                raise
            COMMIT_RETRIES["count"] += 1
            logger.warning("Submission commit retried (%s): %s", attempt, exc)
    raise AssertionError("unreachable")


def _create(
    *,
    participant: AbstractUser,
    assignment: Assignment,
    fmt: str,
    raw: bytes,
    name: str,
) -> Submission:
    """Store the file and the row in one go: if the commit fails, the file goes."""
    submission = Submission(
        participant=participant,
        assignment=assignment,
        original_name=name,
        format=fmt,
        sha256=hashlib.sha256(raw).hexdigest(),
        size=len(raw),
    )
    return submission_store(
        submission,
        filename="submission.ipynb"
        if fmt == Submission.Format.IPYNB
        else "submission.py",
        raw=raw,
        allowed=lambda: _check_allowed(participant=participant, assignment=assignment),
        stored=lambda: standing_refresh(
            participant_id=participant.pk, assignment_id=assignment.pk
        ),
    )


def submission_store(
    submission: Submission,
    *,
    filename: str,
    raw: bytes,
    allowed: Callable[[], None],
    stored: Callable[[], None] = lambda: None,
) -> Submission:
    """Store ``submission``'s file and row in one transaction and queue it after
    the commit; if anything fails, the file goes.

    ``allowed`` runs first in the transaction (it raises ValidationError to
    refuse, and may lock what it counts); ``stored`` runs once the row is saved.
    """
    from submissions.services.lifecycle import submission_enqueue

    try:
        with transaction.atomic():
            allowed()
            file_store(submission, filename, raw)
            # The participant and the assignment were just read: checking that
            # they exist would cost two queries per upload.
            submission.full_clean(exclude=["participant", "assignment"])
            submission.save()
            stored()
            transaction.on_commit(
                lambda: submission_enqueue(submission_id=submission.pk)
            )
    except BaseException:
        if submission.file.name:
            submission.file.delete(save=False)
        raise
    return submission
