"""One rule for participant source: a draft, a check and an upload refuse the same text
with the same words."""

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from checks.services import source_validate
from submissions.models import Submission
from submissions.services.intake import submission_create
from workspace.services import draft_text_check


@pytest.fixture
def mlp(workshop):
    return workshop.assignments.get(slug="mlp")


REFUSED = {
    "print(1)\v\n": "U+000B on line 1",
    "x = 1\nprint(x)\x00\n": "U+0000 on line 2",
    "print('\x1b[31m')\n": "U+001B on line 1",
}


def _refusals(text: str, participant, assignment) -> list[list[str]]:
    """Return what the draft, the check and the upload each answer to ``text``."""
    answers = []
    for send in (
        lambda: draft_text_check(text=text),
        lambda: source_validate(source=text),
        lambda: submission_create(
            participant=participant,
            assignment=assignment,
            upload=SimpleUploadedFile("train.py", text.encode()),
        ),
    ):
        with pytest.raises(ValidationError) as exc:
            send()
        answers.append(exc.value.messages)
    return answers


@pytest.mark.parametrize(("text", "where"), REFUSED.items())
def test_drafts_checks_and_uploads_refuse_the_same_text_alike(
    participant, mlp, text, where
):
    draft, check, upload = _refusals(text, participant, mlp)
    assert draft == check == upload
    assert where in draft[0] and "not text" in draft[0]
    assert not Submission.objects.exists()


def test_a_form_feed_is_text_everywhere(participant, mlp):
    """Python reads a form feed as whitespace: no entry point refuses it."""
    text = "import keras\n\f\nprint(keras)\n"
    assert draft_text_check(text=text) == text
    assert source_validate(source=text) == text
    upload = SimpleUploadedFile("train.py", text.encode())
    assert submission_create(participant=participant, assignment=mlp, upload=upload)
