"""The grade page: class names, accuracy per class, and where the model goes wrong."""

import base64

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from grader import GradeReport
from submissions.models import Status
from submissions.services.grading import grade_record
from submissions.services.intake import submission_create
from tests.platform.conftest import report
from web.images import clean_misclassified

SHAPE = [28, 28, 1]
GOOD = base64.b64encode(bytes(range(256)) * 3 + bytes(16)).decode()  # 784 bytes


def entry(**change) -> dict:
    return {"index": 3, "true": 6, "predicted": 0, "pixels": GOOD, **change}


@pytest.mark.parametrize(
    "bad",
    [
        "not a list",
        [entry(true=10)],
        [entry(predicted=-1)],
        [entry(true=True)],
        [entry(true="6")],
        [entry(predicted=6)],  # not a mistake
        [entry(pixels=GOOD[:-8])],
        [entry(pixels="!!!" + GOOD[3:])],
        [entry(pixels=GOOD * 50)],
        [entry(pixels=None)],
        ["just a string"],
    ],
)
def test_malformed_gallery_entries_from_the_sandbox_are_dropped(bad) -> None:
    """Labels out of range, wrong byte counts or non-base64 pixels never show."""
    assert clean_misclassified(bad, input_shape=SHAPE, num_classes=10) == []


def test_gallery_keeps_at_most_16_good_entries() -> None:
    kept = clean_misclassified(
        [entry()] * 40 + [entry(true=99)], input_shape=SHAPE, num_classes=10
    )
    assert len(kept) == 16
    assert kept[0] == {"true": 6, "predicted": 0, "pixels": GOOD}
    assert clean_misclassified([entry()], input_shape=[28, 28], num_classes=10) == []


def _graded_cnn(participant, cnn, extra: dict):
    data = {**report(), **extra}
    submission = submission_create(
        participant=participant,
        assignment=cnn,
        upload=SimpleUploadedFile("t.py", b"print(1)\n"),
    )
    with transaction.atomic():
        submission.move_to(Status.QUEUED)
        submission.move_to(Status.EVALUATING)
        submission.save()
        grade_record(
            submission=submission, run=None, report=GradeReport.from_dict(data)
        )
    return submission


def test_grade_page_names_classes_and_shows_the_mistakes(
    participant_client, participant, cnn
) -> None:
    """Confusion matrix, per-class table and gallery use Fashion-MNIST's names."""
    matrix = [[9 if i == j else 0 for j in range(10)] for i in range(10)]
    matrix[6][0] = 3
    submission = _graded_cnn(
        participant,
        cnn,
        {
            "confusion_matrix": matrix,
            "per_class_accuracy": [0.9] * 6 + [0.25] + [0.9] * 3,
            "misclassified": [entry(), entry(true=99), entry(pixels="xx")],
        },
    )
    stored = submission.current_grade.report["misclassified"]
    assert stored == [{"true": 6, "predicted": 0, "pixels": GOOD}]
    page = participant_client.get(submission.get_absolute_url()).content.decode()
    assert 'id="misclassified"' in page
    assert page.count('src="data:image/png;base64,') == 1
    assert 'alt="A Shirt predicted as T-shirt/top"' in page
    assert "<td>Ankle boot</td>" in page  # the per-class table
    assert "true Shirt, predicted T-shirt/top: 3" in page  # the matrix tooltip
    assert 'id="try-model"' not in page  # no trained model to try


def test_fallback_notice_shows_on_the_assignment_pages(
    participant_client, participant, cnn
) -> None:
    """Where Fashion-MNIST is missing the pack says it uses the digits instead."""
    cnn.spec = {**cnn.spec, "data_notice": "Fashion-MNIST is not installed here."}
    cnn.save()
    page = participant_client.get(cnn.get_absolute_url()).content.decode()
    assert 'id="data-notice"' in page and "is not installed here" in page
