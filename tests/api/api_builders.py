"""Build submissions in every state with the real services (no broker needed).

Under the ``db`` fixture, ``transaction.on_commit`` callbacks never run, so the
services record jobs as due without sending anything to a queue.
"""

import uuid

from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from grader import GradeReport
from submissions.models import Grade, Run, Status, Submission
from submissions.services.grading import grade_record
from submissions.services.intake import submission_create
from submissions.services.jobs import job_claim
from submissions.services.lifecycle import submission_enqueue
from workshops.models import Assignment

CODE = b"import keras\nprint('training')\n"


def upload(name: str = "train.py", content: bytes = CODE) -> SimpleUploadedFile:
    """Return an uploaded file as a browser would send it."""
    return SimpleUploadedFile(name, content, content_type="text/x-python")


def submit(
    user, assignment: Assignment, *, name: str = "train.py", content: bytes = CODE
) -> Submission:
    """Create a submission through the intake service."""
    return submission_create(
        participant=user, assignment=assignment, upload=upload(name, content)
    )


def start_training(submission: Submission, *, log: str = "") -> Run:
    """Queue the submission and let a pretend worker claim its training job."""
    submission_enqueue(submission_id=submission.pk)
    submission.refresh_from_db()
    run = job_claim(
        submission_id=submission.pk,
        job_token=str(submission.job_token),
        kind=Run.Kind.TRAIN,
        expect=Status.QUEUED,
        worker="test@host",
        queue="train-cpu",
    )
    assert run is not None
    if log:
        # What the worker's log streaming does while the sandbox runs.
        Run.objects.filter(pk=run.pk).update(log=log)
        run.refresh_from_db()
    return run


def report(
    *,
    public: float = 0.91,
    private: float = 0.876543,
    score: float = 95.0,
    status: str = "graded",
) -> dict:
    """Return a grader report shaped like ``GradeReport.to_dict()``."""
    return {
        "status": status,
        "reason": "" if status == "graded" else "The model has no Dense layer.",
        "public_accuracy": public,
        "private_accuracy": private,
        "per_class_accuracy": [public] * 10,
        "confusion_matrix": [[1, 0], [0, 1]],
        "params_total": 1234,
        "params_trainable": 1234,
        "layers": [
            {
                "name": "dense",
                "type": "Dense",
                "output_shape": [None, 10],
                "params": 1234,
                "trainable": True,
            }
        ],
        "checks": [{"id": "layers", "passed": True, "message": "Has 2 Dense layers."}],
        "score": score,
        "private_score": score - 1,
        "max_score": 100.0,
        "grader_version": "1.0.0",
        "spec_version": "1",
    }


def graded(
    user,
    assignment: Assignment,
    *,
    log: str = "epoch 1/1\n",
    name: str = "train.py",
    content: bytes = CODE,
    **report_values,
) -> tuple[Submission, Grade]:
    """Return a submission that went through training and grading."""
    submission = submit(user, assignment, name=name, content=content)
    run = start_training(submission, log=log)
    submission.refresh_from_db()
    submission.move_to(Status.EVALUATING)
    submission.save()
    data = report(**report_values)
    grade = grade_record(
        submission=submission,
        run=run,
        report=GradeReport.from_dict(data),
        history=data.get("history"),
    )
    submission.refresh_from_db()
    return submission, grade


def token_client(user) -> APIClient:
    """Return an API client that authenticates with the user's token."""
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def use_fresh_cache(settings) -> None:
    """Point the default cache at a new in-memory one: rate counts never leak."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"test-{uuid.uuid4().hex}",
        }
    }
