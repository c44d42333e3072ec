"""Try your model for text: a typed sentence becomes the pack's word ids.

Whatever is typed is bounded and checked in the web process before anything is
queued; only word ids leave it (markup is inert), and the text is never shown
back.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from django.test import Client

from submissions.prediction_rows import Prediction
from tests.model_builders import graded_with_model
from workshops import folders

pytestmark = pytest.mark.django_db
VOCABULARY = ["<pad>", "<unk>", "a", "dog", "tree"]


@pytest.fixture
def graded_text(participant, workshop):
    """A graded submission of an assignment made a text one (32 word ids)."""
    assignment = workshop.assignments.get(slug="mlp")
    spec = assignment.spec
    spec["checks"] = {**spec["checks"], "input_kind": "tokens", "input_shape": [32]}
    spec["dataset"] = {**spec["dataset"], "sequence_length": 32}
    assignment.spec = spec
    assignment.save()
    train = folders.assignment_train_dir(assignment.pk)
    train.mkdir(parents=True, exist_ok=True)
    (train / "vocab.txt").write_text("".join(f"{w}\n" for w in VOCABULARY))
    return graded_with_model(participant, assignment)


def _post(client: Client, submission, body: dict):
    return client.post(
        f"/s/{submission.pk}/predict/",
        json.dumps(body),
        content_type="application/json",
    )


def test_a_sentence_goes_to_the_predictor_as_word_ids(
    graded_text, participant, outbox, django_capture_on_commit_callbacks
) -> None:
    client = Client()
    client.force_login(participant)
    page = client.get(graded_text.get_absolute_url()).content.decode()
    assert 'id="try-text-form"' in page and 'id="draw"' not in page
    assert 'id="try-explain"' in page
    with django_capture_on_commit_callbacks(execute=True):
        posted = _post(client, graded_text, {"text": "A <b>dog</b> in a\ttree!"})
    assert posted.status_code == 202, posted.content
    (message,) = outbox
    pixels = Prediction.objects.get(pk=message["args"][0]).asked
    assert message["queue"] == "predict" and pixels.startswith("t:")
    ids = np.frombuffer(base64.b64decode(pixels[2:]), "<i4")
    # a, b (unknown), dog, b, in (unknown), a, tree; then padding.
    assert ids.tolist() == [2, 1, 3, 1, 1, 2, 4] + [0] * 25


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a dog " * 200, "at most 1,000 characters"),
        ("", "at least one word"),
        ("?! ... ---", "at least one word"),
        ("zebra quokka", "None of these words"),
        ("a dog\x1b[31m", "control characters"),
        ("a dog\u202e", "control characters"),
        (["a", "dog"], '{"text": "a sentence"}'),
    ],
)
def test_hostile_text_is_refused_with_a_reason_and_nothing_queued(
    graded_text, participant, outbox, text, reason
) -> None:
    client = Client()
    client.force_login(participant)
    refused = _post(client, graded_text, {"text": text})
    assert refused.status_code == 400
    assert reason in refused.json()["error"]
    assert outbox == []


def test_wrong_definitions_show_as_a_table_and_malformed_entries_are_dropped(
    graded_text, participant
) -> None:
    """The grader's token ids become the definitions as the model read them."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db import transaction

    from grader import GradeReport
    from submissions.models import Status
    from submissions.services.grading import grade_record
    from submissions.services.intake import submission_create
    from tests.platform.conftest import report

    assignment = graded_text.assignment
    matrix = [[5 if i == j else 0 for j in range(10)] for i in range(10)]
    good = {"index": 1, "true": 3, "predicted": 0, "tokens": [2, 3, 1, 4, 99]}
    bad = [
        {**good, "tokens": [2, -1]},
        {**good, "tokens": [2] * 33},
        {**good, "tokens": [True]},
        {**good, "tokens": "a dog"},
        {**good, "predicted": 3},
        {**good, "true": 10},
    ]
    submission = submission_create(
        participant=participant,
        assignment=assignment,
        upload=SimpleUploadedFile("t.py", b"print(1)\n"),
    )
    with transaction.atomic():
        submission.move_to(Status.QUEUED)
        submission.move_to(Status.EVALUATING)
        submission.save()
        grade_record(
            submission=submission,
            run=None,
            report=GradeReport.from_dict(
                {**report(), "confusion_matrix": matrix, "misclassified": [good, *bad]}
            ),
        )
    stored = submission.current_grade.report["misclassified"]
    assert stored == [{"true": 3, "predicted": 0, "tokens": [2, 3, 1, 4, 99]}]
    client = Client()
    client.force_login(participant)
    page = client.get(submission.get_absolute_url()).content.decode()
    assert 'id="misclassified-text"' in page and 'id="misclassified"' not in page
    names = assignment.spec["class_names"]
    row = f"<td>a dog &lt;unk&gt; tree &lt;unk&gt;</td><td>{names[3]}</td>"
    assert row + f"<td>{names[0]}</td>" in page


class _Explaining:
    """The warm predictor's checked answer, hand-built (the sandboxed path is
    proven in tests/workers/test_predictor.py)."""

    def __init__(self) -> None:
        self.asked: list[dict] = []

    def explain(self, **asked) -> dict:
        self.asked.append(asked)
        return {
            "class": 3,
            "probability": 0.75,
            # Positions in the sentence: 2 is "dog", 6 is "tree".
            "words": [(2, 0.5), (6, -0.125)],
            # Word 99 is past this vocabulary: dropped, never shown as an id.
            "neighbours": [(3, [(4, 0.9), (99, 0.8)]), (99, [(2, 0.1)])],
        }


def test_which_words_moved_the_prediction_comes_back_in_the_sites_own_words(
    graded_text,
    participant,
    outbox,
    settings,
    monkeypatch,
    django_capture_on_commit_callbacks,
) -> None:
    """A sentence with "explain" is queued like a prediction (its word ids kept
    with the request), counted with them, and answered through the worker's
    task as words read through the site's vocabulary."""
    from submissions import prediction_worker, tasks

    settings.DOJO_PREDICT_PER_MINUTE = 1
    fake = _Explaining()
    monkeypatch.setattr(prediction_worker, "_warm_predictor", lambda: fake)
    client = Client()
    client.force_login(participant)
    body = {"text": "A <b>dog</b> in a\ttree!", "explain": True}
    with django_capture_on_commit_callbacks(execute=True):
        posted = _post(client, graded_text, body)
    assert posted.status_code == 202, posted.content
    assert client.get(posted.json()["poll"]).json() == {"status": "pending"}
    again = _post(client, graded_text, body)
    assert again.status_code == 429 and "predictions a minute" in again.json()["error"]
    (message,) = outbox
    tasks.predict(*message["args"])
    (asked,) = fake.asked
    row = Prediction.objects.get(pk=message["args"][0])
    assert asked["length"] == 32 and asked["pixels"] == row.asked
    answer = client.get(posted.json()["poll"]).json()
    names = graded_text.assignment.spec["class_names"]
    assert answer == {
        "status": "done",
        "explained": {
            "label": names[3],
            "probability": 0.75,
            "read": "a <unk> dog <unk> <unk> a tree",
            "words": [
                {"word": "dog", "weight": 0.5},
                {"word": "tree", "weight": -0.125},
            ],
            "neighbours": [{"word": "dog", "near": [{"word": "tree", "cosine": 0.9}]}],
        },
    }
    # A refused sentence is refused the same way as a prediction's.
    settings.DOJO_PREDICT_PER_MINUTE = 100
    refused = _post(client, graded_text, {"text": "zebra", "explain": True})
    assert (
        refused.status_code == 400 and "None of these words" in refused.json()["error"]
    )


@pytest.fixture
def public_definitions(graded_text):
    """What loading a text pack keeps: its public test definitions' word ids
    (removed after: the materials folder outlives the test)."""
    from workshops.samples import DEFINITIONS_FILE

    kept = np.zeros((3, 32), dtype=np.int32)
    kept[1, :3] = [3, 2, 4]  # dog a tree
    folder = folders.assignment_materials_dir(graded_text.assignment_id)
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / DEFINITIONS_FILE, kept)
    yield kept
    (folder / DEFINITIONS_FILE).unlink(missing_ok=True)


def test_a_public_test_definition_is_weighed_by_its_index(
    graded_text,
    participant,
    outbox,
    public_definitions,
    django_capture_on_commit_callbacks,
) -> None:
    """The page offers the kept public definitions by number; the pick goes to
    the predictor as that definition's own word ids, kept with the request."""
    kept = public_definitions
    client = Client()
    client.force_login(participant)
    page = client.get(graded_text.get_absolute_url()).content.decode()
    assert 'id="try-public"' in page and 'max="2"' in page
    with django_capture_on_commit_callbacks(execute=True):
        posted = _post(client, graded_text, {"public_index": "1", "explain": True})
    assert posted.status_code == 202, posted.content
    (message,) = outbox
    asked = Prediction.objects.get(pk=message["args"][0]).asked
    ids = np.frombuffer(base64.b64decode(asked[2:]), "<i4")
    assert ids.tolist() == kept[1].tolist()


@pytest.mark.parametrize(
    ("index", "reason"),
    [
        (3, "There is no public test definition '3'"),
        (-1, "not a test definition number"),
        ("1.0", "not a test definition number"),
        (True, "not a test definition number"),
        ([1], "not a test definition number"),
        ("9" * 70, "There is no public test definition"),
    ],
)
def test_a_public_definition_pick_outside_the_kept_ones_is_refused(
    graded_text, participant, outbox, public_definitions, index, reason
) -> None:
    client = Client()
    client.force_login(participant)
    refused = _post(client, graded_text, {"public_index": index, "explain": True})
    assert refused.status_code == 400
    assert reason in refused.json()["error"]
    assert outbox == []


def test_without_kept_definitions_a_pick_says_so(
    graded_text, participant, outbox
) -> None:
    client = Client()
    client.force_login(participant)
    page = client.get(graded_text.get_absolute_url()).content.decode()
    assert 'id="try-public"' not in page
    refused = _post(client, graded_text, {"public_index": 0, "explain": True})
    assert refused.status_code == 400
    assert "keeps no public test definitions" in refused.json()["error"]
    assert outbox == []
