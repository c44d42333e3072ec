"""Fixtures for page tests: submissions made and graded through the services."""

from collections.abc import Callable

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from accounts.services import user_ensure
from grader import GradeReport
from submissions.models import Status, Submission
from submissions.services.grading import grade_record
from submissions.services.intake import submission_create
from submissions.services.moves import submission_move
from workshops.models import Workshop
from workshops.services import enrollment_add

CODE = b"import keras\nprint('training')\n"


def report(
    *,
    score: float = 80.0,
    public: float = 0.9,
    private: float = 0.88,
    passed: bool = True,
    history: bool = True,
) -> dict:
    """Return a grader report shaped like GradeReport.to_dict()."""
    data = {
        "status": "graded",
        "reason": "",
        "public_accuracy": public,
        "private_accuracy": private,
        "per_class_accuracy": [0.9] * 3,
        "confusion_matrix": [[9, 1, 0], [0, 10, 0], [1, 0, 9]],
        "params_total": 1234,
        "params_trainable": 1234,
        "layers": [
            {
                "name": "conv2d",
                "type": "Conv2D",
                "output_shape": [None, 8, 8, 16],
                "params": 160,
                "trainable": True,
            },
            {
                "name": "dense",
                "type": "Dense",
                "output_shape": [None, 10],
                "params": 1074,
                "trainable": True,
            },
        ],
        "checks": [
            {"id": "layers.Conv2D", "passed": True, "message": "Two Conv2D layers."},
            {
                "id": "layers.Dropout",
                "passed": passed,
                "message": "ok" if passed else "Add keras.layers.Dropout.",
            },
        ],
        "score": score,
        "private_score": score,
        "max_score": 100.0,
        "grader_version": "1.0.0",
        "spec_version": "1",
    }
    if history:
        data["history"] = {
            "loss": [1.0, 0.6, 0.4],
            "val_loss": [1.1, 0.7, 0.5],
            "accuracy": [0.6, 0.8, 0.9],
            "val_accuracy": [0.5, 0.75, 0.85],
        }
    return data


def submit(
    user, assignment, *, name: str = "train.py", code: bytes = CODE
) -> Submission:
    return submission_create(
        participant=user,
        assignment=assignment,
        upload=SimpleUploadedFile(name, code),
    )


def graded(user, assignment, **kwargs) -> Submission:
    """Submit, then record a grade as the evaluation worker would."""
    submission = submit(user, assignment)
    data = report(**kwargs)
    with transaction.atomic():
        submission.move_to(Status.QUEUED)
        submission.move_to(Status.EVALUATING)
        submission.save()
        grade_record(
            submission=submission,
            run=None,
            report=GradeReport.from_dict(data),
            history=data.get("history"),
        )
    submission.refresh_from_db()
    return submission


def failed(
    user, assignment, reason: str = "Your code stopped with an error: boom."
) -> Submission:
    submission = submit(user, assignment)
    submission_move(submission=submission, status=Status.FAILED, reason=reason)
    return submission


@pytest.fixture
def make_graded() -> Callable[..., Submission]:
    return graded


@pytest.fixture
def make_submission() -> Callable[..., Submission]:
    return submit


@pytest.fixture
def make_failed() -> Callable[..., Submission]:
    return failed


@pytest.fixture
def cnn(workshop):
    return workshop.assignments.get(slug="cnn")


@pytest.fixture
def other_workshop(db):
    """A second workshop with its own instructor."""
    other = Workshop.objects.create(title="Other", slug="other")
    teacher = user_ensure(username="olga", password="olga-pass-123")
    enrollment_add(workshop=other, user=teacher, role="instructor")
    return other


@pytest.fixture
def other_instructor(other_workshop):
    return other_workshop.enrollments.get().user


@pytest.fixture
def participant_client(client, participant):
    client.force_login(participant)
    return client


@pytest.fixture
def instructor_client(client, instructor):
    client.force_login(instructor)
    return client
