"""Runner hosts in-process: a host joined through the API, a queued training."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from runners.hosts import join_token_create
from submissions.services.intake import submission_create


class RunnerClient:
    """The runner API as a host speaks it: JSON bodies, its credential."""

    def __init__(self, credential: str = "") -> None:
        self.client = Client()
        self.credential = credential

    def headers(self) -> dict:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.credential}"}

    def post(self, path: str, body: object = None, **extra):
        import json

        return self.client.post(
            path,
            data=json.dumps({} if body is None else body),
            content_type="application/json",
            **{**self.headers(), **extra},
        )

    def get(self, url: str):
        return self.client.get(url)

    def put(self, url: str, data: bytes, **extra):
        return self.client.generic(
            "PUT", url, data=data, content_type="application/octet-stream", **extra
        )


def join(*, instructor, name: str = "gpu-1", queues=("train-cpu",)) -> RunnerClient:
    """Register a host through the API with a fresh join token."""
    _, secret = join_token_create(
        created_by=instructor, workshop=None, queues=list(queues)
    )
    runner = RunnerClient()
    answer = runner.post(
        "/runner/v1/register", {"token": secret, "name": name, "slots": 1}
    )
    assert answer.status_code == 201, answer.content
    runner.credential = answer.json()["credential"]
    return runner


def claim(runner: RunnerClient) -> dict:
    """Claim a job as the runner does; it must get one."""
    answer = runner.post("/runner/v1/jobs/request")
    assert answer.status_code == 201, answer.content
    return answer.json()


def result_body(job: int, **fields) -> dict:
    """Return a result for the runner's job: a failed run unless `fields` say."""
    from runners.models import HostJob

    return {
        "version": 1,
        "job_id": HostJob.objects.get(pk=job).spec["job_id"],
        "ending": "exit_nonzero",
        "exit_code": 1,
        "wall_seconds": 1.0,
        "cpu_seconds": 0.5,
        "peak_memory_bytes": None,
        "log": "Traceback (most recent call last):\nValueError: no\n",
        "log_truncated": False,
        "artifacts": [],
        **fields,
    }


@pytest.fixture
def runner_queues(settings):
    """Only runners serve train-cpu: the site sends no message for it."""
    settings.DOJO_RUNNER_QUEUES = ["train-cpu"]
    settings.DOJO_RUNNER_POLL_SECONDS = 0


@pytest.fixture
def queued(participant, workshop, outbox, runner_queues):
    """A training queued for runners (train-cpu), with no broker message."""
    from submissions.services.lifecycle import submission_enqueue

    submission = submission_create(
        participant=participant,
        assignment=workshop.assignments.get(slug="mlp"),
        upload=SimpleUploadedFile("train.py", b"print('hi')\n"),
    )
    # What the commit would do (this test's transaction never commits).
    submission_enqueue(submission_id=submission.pk)
    submission.refresh_from_db()
    return submission


@pytest.fixture
def host(instructor) -> RunnerClient:
    return join(instructor=instructor)
