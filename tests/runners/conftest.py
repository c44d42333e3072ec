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


def join(
    *, instructor, name: str = "gpu-1", queues=("train-cpu",), facts=None
) -> RunnerClient:
    """Register a host through the API with a fresh join token."""
    _, secret = join_token_create(
        created_by=instructor, workshop=None, queues=list(queues)
    )
    runner = RunnerClient()
    body = {"token": secret, "name": name, "slots": 1}
    if facts is not None:
        body["facts"] = facts
    answer = runner.post("/runner/v1/register", body)
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


@pytest.fixture(autouse=True)
def upload_root(settings, tmp_path):
    """Each test's runner uploads and kept models apart: job and check numbers
    start again per test, so a folder another test left (an upload never
    followed by a result, a check's model) would otherwise be this test's."""
    settings.DOJO_RUNNER_UPLOAD_ROOT = tmp_path / "runner-uploads"
    settings.DOJO_ARTIFACT_ROOT = tmp_path / "artifacts"


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


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory):
    """One real SeaweedFS S3 server on loopback for the whole session."""
    from tests.seaweedfs import seaweedfs_start, seaweedfs_stop

    process, server = seaweedfs_start(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    seaweedfs_stop(process)


class ObjectStore:
    """The site's settings pointed at the server, with a bucket of its own."""

    def __init__(self, server, bucket: str) -> None:
        self.endpoint = server.endpoint
        self.bucket = bucket

    def client(self):
        from runners.objectstore import store

        return store().connection.meta.client

    def keys(self) -> set[str]:
        answer = self.client().list_objects_v2(Bucket=self.bucket)
        return {item["Key"] for item in answer.get("Contents", [])}


@pytest.fixture
def object_store(settings, seaweedfs, tmp_path) -> ObjectStore:
    """DOJO_OBJECT_STORE=s3 against the session's SeaweedFS and a fresh bucket
    (upload folders are each test's own: `upload_root`)."""
    import uuid

    settings.DOJO_OBJECT_STORE = "s3"
    settings.DOJO_S3_ENDPOINT_URL = seaweedfs.endpoint
    settings.DOJO_S3_PUBLIC_URL = ""
    settings.DOJO_S3_BUCKET = f"dojo-test-{uuid.uuid4().hex[:12]}"
    settings.DOJO_S3_ACCESS_KEY_ID = seaweedfs.key_id
    settings.DOJO_S3_SECRET_ACCESS_KEY = seaweedfs.secret
    return ObjectStore(seaweedfs, settings.DOJO_S3_BUCKET)
