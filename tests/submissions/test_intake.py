"""Bad uploads are refused with a message a participant can act on; nothing stored."""

import datetime
import json
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from submissions.models import Status, Submission
from submissions.services.intake import submission_create

GOOD = b"import os\nprint('training')\n"


@pytest.fixture
def mlp(workshop):
    return workshop.assignments.get(slug="mlp")


@pytest.fixture
def sent(outbox):
    """Record what would leave the process for the broker."""
    return outbox


def _refused(participant, assignment, upload, match: str) -> None:
    media = Path(Submission.file.field.storage.location)
    before = sorted(media.rglob("*")) if media.exists() else []
    with pytest.raises(ValidationError, match=match):
        submission_create(participant=participant, assignment=assignment, upload=upload)
    assert Submission.objects.count() == 0
    after = sorted(media.rglob("*")) if media.exists() else []
    assert after == before, "a refused upload left a file behind"


@pytest.mark.django_db(transaction=True)
def test_good_upload_is_stored_and_queued_after_commit(participant, mlp, sent):
    """A valid script becomes a submission that is queued once committed."""
    submission = submission_create(
        participant=participant,
        assignment=mlp,
        upload=SimpleUploadedFile("train.py", GOOD),
    )
    submission.refresh_from_db()
    assert submission.status == Status.QUEUED
    assert submission.format == "py" and submission.size == len(GOOD)
    assert submission.file.read() == GOOD
    assert len(sent) == 1
    assert sent[0]["queue"] == "train-cpu"
    assert sent[0]["args"] == [submission.pk, str(submission.job_token)]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("train.py", b"", "empty"),
        ("train.py", b"   \n\n", "empty"),
        ("train.txt", GOOD, "neither a Python script"),
        ("model.h5", GOOD, "neither a Python script"),
        ("..\\evil.py", GOOD, "not a plain file name"),
        (".hidden.py", GOOD, "hidden"),
        ("train.py", "print('é')".encode("latin-1"), "not UTF-8"),
        ("train.py", b"def broken(:\n", "Python cannot read your code"),
        ("nb.ipynb", b"{not json", "notebook"),
    ],
)
def test_bad_files_are_refused(participant, mlp, sent, name, content, match):
    """Each kind of bad file is refused before anything is stored or queued."""
    _refused(participant, mlp, SimpleUploadedFile(name, content), match)
    assert sent == []


@pytest.mark.django_db(transaction=True)
def test_a_path_in_the_name_never_reaches_the_disk(participant, mlp, sent, settings):
    """Django strips `../`; the file lands under our own folder whatever the name."""
    submission = submission_create(
        participant=participant,
        assignment=mlp,
        upload=SimpleUploadedFile("../../etc/evil.py", GOOD),
    )
    media = Path(settings.MEDIA_ROOT).resolve()
    assert submission.original_name == "evil.py"
    assert Path(submission.file.path).resolve().is_relative_to(media / "submissions")


@pytest.mark.django_db(transaction=True)
def test_missing_file_is_refused(participant, mlp, sent):
    _refused(participant, mlp, None, "Choose a .py or .ipynb file")


@pytest.mark.django_db(transaction=True)
def test_oversized_file_is_refused(participant, mlp, sent, settings):
    settings.DOJO_UPLOAD_MAX_BYTES = 100
    _refused(
        participant, mlp, SimpleUploadedFile("train.py", b"#" * 101 + b"\n"), "limit"
    )


@pytest.mark.django_db(transaction=True)
def test_notebook_with_shell_escape_is_refused(participant, mlp, sent):
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("import os"),
        nbformat.v4.new_code_cell("!curl http://example.com"),
    ]
    raw = json.dumps(notebook).encode()
    _refused(participant, mlp, SimpleUploadedFile("nb.ipynb", raw), "Cell 2")


@pytest.mark.django_db(transaction=True)
def test_past_deadline_is_refused(participant, mlp, sent):
    mlp.deadline = timezone.now() - datetime.timedelta(minutes=1)
    mlp.save()
    _refused(participant, mlp, SimpleUploadedFile("train.py", GOOD), "deadline")


@pytest.mark.django_db(transaction=True)
def test_daily_limit_is_enforced(participant, mlp, sent):
    mlp.daily_limit = 2
    mlp.save()
    for _ in range(2):
        submission_create(
            participant=participant,
            assignment=mlp,
            upload=SimpleUploadedFile("train.py", GOOD),
        )
    with pytest.raises(ValidationError, match="all 2 submissions"):
        submission_create(
            participant=participant,
            assignment=mlp,
            upload=SimpleUploadedFile("train.py", GOOD),
        )
    assert Submission.objects.count() == 2
    # The second waits in the database for the first's training (fair share).
    assert len(sent) == 1


@pytest.mark.django_db(transaction=True)
def test_platform_errors_are_refunded(participant, mlp, sent):
    """A submission that ended in a platform error does not count for the day."""
    mlp.daily_limit = 1
    mlp.save()
    first = submission_create(
        participant=participant,
        assignment=mlp,
        upload=SimpleUploadedFile("train.py", GOOD),
    )
    Submission.objects.filter(pk=first.pk).update(status=Status.ERROR)
    submission_create(
        participant=participant,
        assignment=mlp,
        upload=SimpleUploadedFile("train.py", GOOD),
    )


@pytest.mark.django_db(transaction=True)
def test_user_not_enrolled_is_refused(django_user_model, mlp, sent):
    outsider = django_user_model.objects.create_user("eve", password="x")
    _refused(outsider, mlp, SimpleUploadedFile("train.py", GOOD), "not enrolled")


@pytest.mark.django_db(transaction=True)
def test_closed_or_unreleased_assignment_is_refused(participant, mlp, sent):
    mlp.closed = True
    mlp.save()
    _refused(participant, mlp, SimpleUploadedFile("train.py", GOOD), "closed")
    mlp.closed, mlp.released = False, False
    mlp.save()
    _refused(
        participant, mlp, SimpleUploadedFile("train.py", GOOD), "not been released"
    )
