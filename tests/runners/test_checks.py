"""Check runs on runner hosts, in-process: a host trains a check and never
checks its model (the public sample is cut from the hidden split); the site
reads what the host sends as hostile input and sends the model to its own
grader, through the same claim, heartbeat, result and reconciler as a
training's."""

import datetime
import hashlib
import io
import tarfile

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from checks.execution import check_run_claim
from checks.extensions import model_settle
from checks.models import CheckRun, CheckStatus
from checks.reconcile import kept_models_sweep
from checks.services import check_run_create
from jobs.queues import JobQueue, JobTask
from jobs.reconcile import jobs_reconcile
from runners.files import upload_dir
from runners.models import Host, HostJob
from submissions.services.intake import submission_create
from tests.runners.conftest import RunnerClient, claim, join, result_body

pytestmark = pytest.mark.django_db

SOURCE = "import keras\nprint('training')\n"
MODEL = b"PK\x03\x04 not really a model, as a hostile host may send"


@pytest.fixture
def checks_on_runners(settings):
    """Only runners train checks; the site's check workers check the models."""
    settings.DOJO_RUNNER_QUEUES = ["check"]
    settings.DOJO_RUNNER_POLL_SECONDS = 0


@pytest.fixture
def mlp(workshop):
    return workshop.assignments.get(slug="mlp")


@pytest.fixture
def start_check(
    participant, mlp, outbox, checks_on_runners, django_capture_on_commit_callbacks
):
    def start(source: str = SOURCE) -> CheckRun:
        with django_capture_on_commit_callbacks(execute=True):
            return check_run_create(
                participant=participant, assignment=mlp, source=source
            )

    return start


@pytest.fixture
def checker(instructor) -> RunnerClient:
    return join(instructor=instructor, name="cpu-1", queues=("check", "train-cpu"))


def _upload(runner: RunnerClient, job: int, body: bytes = MODEL) -> dict:
    digest = hashlib.sha256(body).hexdigest()
    announce = {"name": "model.keras", "size": len(body), "sha256": digest}
    url = runner.post(f"/runner/v1/jobs/{job}/uploads", announce).json()["url"]
    assert runner.put(url, body).status_code == 201
    return {"name": "model.keras", "sha256": digest, "size_bytes": len(body)}


def _send(runner: RunnerClient, job: int, result: dict):
    return runner.post(f"/runner/v1/jobs/{job}/result", {"result": result})


def _trained(job: int, artifacts: list) -> dict:
    return result_body(
        job, ending="ok", exit_code=0, log="epoch 1/1\n", artifacts=artifacts
    )


def test_a_check_on_a_runner_only_queue_waits_for_a_runner(start_check, outbox):
    """No broker message, and the reconciler counts it as due, never lost."""
    check = start_check()
    assert check.status == CheckStatus.QUEUED and check.enqueued_at is not None
    assert outbox == []
    CheckRun.objects.filter(pk=check.pk).update(
        enqueued_at=timezone.now() - datetime.timedelta(days=1)
    )
    assert jobs_reconcile()["resent"] == 0 and outbox == []


def test_a_runner_takes_a_check_before_a_training_and_sees_only_its_slice(
    checker, start_check, participant, mlp, settings
):
    """Checks go first (a participant waits at the editor); the host gets the
    source and the check slice of the training split, nothing public or hidden."""
    settings.DOJO_RUNNER_QUEUES = ["train-cpu", "check"]
    submission = submission_create(
        participant=participant,
        assignment=mlp,
        upload=SimpleUploadedFile("train.py", b"print('hi')\n"),
    )
    from submissions.services.lifecycle import submission_enqueue

    submission_enqueue(submission_id=submission.pk)
    check = start_check()
    handout = claim(checker)
    job = HostJob.objects.get(pk=handout["job"])
    assert (job.kind, job.check_run_id, job.run_id) == ("check", check.pk, None)
    spec = handout["spec"]
    assert spec["kind"] == "check" and spec["job_id"] == f"check:{check.pk}"
    assert spec["returns"] == ["model.keras"]
    assert spec["limits"]["wall_seconds"] <= settings.DOJO_CHECK_WALL_SECONDS
    script = b"".join(checker.get(handout["script"]["url"]).streaming_content)
    assert script == SOURCE.encode()
    (data,) = handout["data"]
    archive = b"".join(checker.get(data["url"]).streaming_content)
    assert hashlib.sha256(archive).hexdigest() == data["sha256"]
    tar = tarfile.open(fileobj=io.BytesIO(archive))
    assert tar.getnames() == ["train.npz"]
    with np.load(io.BytesIO(tar.extractfile("train.npz").read())) as train:
        sliced = len(train["y"])
    assert sliced == 10 * settings.DOJO_CHECK_TRAIN_PER_CLASS
    check.refresh_from_db()
    assert check.status == CheckStatus.RUNNING
    assert check.worker == Host.objects.get().worker_name
    assert check.log.startswith("[dojo] Check run: training your code on 500 of")
    # Its one slot is busy: the training waits for the next claim.
    assert checker.post("/runner/v1/jobs/request").status_code == 204


def test_a_check_trained_on_a_runner_is_checked_by_the_sites_grader(
    checker, instructor, start_check, outbox, django_capture_on_commit_callbacks
):
    """The host's log is kept neutralised under the site's line, the model
    whole; the check then waits for the site's check workers under a new
    token, which no host can claim, and the host's token is dead."""
    check = start_check()
    job = claim(checker)["job"]
    beat = checker.post(
        "/runner/v1/heartbeat", {"jobs": [{"job": job, "log": "epoch 1\x1b[2J\n"}]}
    )
    assert beat.json()["jobs"][str(job)] == {"cancel": False}
    check.refresh_from_db()
    assert check.log.startswith("[dojo] Check run:") and "epoch 1" in check.log
    assert "\x1b" not in check.log and check.first_log_at is not None
    model = _upload(checker, job)
    with django_capture_on_commit_callbacks(execute=True):
        done = _send(checker, job, _trained(job, [model]))
    assert done.json() == {"job": job, "verdict": "trained"}, done.content
    host_token = check.job_token
    check.refresh_from_db()
    assert check.status == CheckStatus.EVALUATING
    assert (check.worker, check.heartbeat_at, check.attempts) == ("", None, 0)
    assert check.job_token != host_token
    # The request kept nothing: the model waits for the site's check worker.
    assert not check.kept_model.exists()
    assert HostJob.objects.get(pk=job).pending["names"] == ["model.keras"]
    assert outbox[-1]["task"] == JobTask.CHECK_RUN.value
    assert outbox[-1]["queue"] == JobQueue.CHECK.value
    assert outbox[-1]["args"] == [check.pk, str(check.job_token)]
    assert Host.objects.get().jobs_done == 1
    # The host's job is over: beats are told to cancel, a result is refused.
    beat = checker.post("/runner/v1/heartbeat", {"jobs": [{"job": job, "log": "x"}]})
    assert beat.json()["jobs"][str(job)] == {"cancel": True}
    again = _send(checker, job, _trained(job, []))
    assert again.status_code == 409
    # No host gets the model to check; the site's worker claims it as it is.
    other = join(instructor=instructor, name="other", queues=("check",))
    assert other.post("/runner/v1/jobs/request").status_code == 204
    grading = check_run_claim(
        check_id=check.pk, job_token=str(check.job_token), worker="check@site"
    )
    assert grading.status == CheckStatus.EVALUATING and grading.attempts == 1
    assert grading.heartbeat_at is not None and grading.worker == "check@site"
    # Which takes the upload whole before it checks it, once.
    assert model_settle(check=grading) == ""
    assert check.kept_model.read_bytes() == MODEL
    assert HostJob.objects.get(pk=job).pending is None
    assert not any(upload_dir(HostJob.objects.get(pk=job)).glob("**/model.keras"))


def test_a_failed_training_on_a_runner_ends_the_check_with_its_reason(
    checker, start_check
):
    check = start_check()
    job = claim(checker)["job"]
    done = _send(checker, job, result_body(job))
    assert done.json()["verdict"] == "failed"
    check.refresh_from_db()
    assert check.status == CheckStatus.FAILED and "ValueError: no" in check.reason
    assert "ValueError: no" in check.log and check.finished_at is not None


def test_a_runners_check_without_a_model_fails_and_sends_nothing_to_grade(
    checker, start_check, outbox
):
    check = start_check()
    job = claim(checker)["job"]
    done = _send(checker, job, _trained(job, []))
    assert done.json()["verdict"] == "failed"
    check.refresh_from_db()
    assert check.status == CheckStatus.FAILED
    assert "saved no usable model" in check.reason
    assert outbox == []


def test_a_hostile_check_result_is_refused(checker, start_check):
    """Another job's result, an artifact never uploaded, a log past the
    check's limit: refused, and the check still runs on the host."""
    check = start_check()
    job = claim(checker)["job"]
    model = {"name": "model.keras", "sha256": "a" * 64, "size_bytes": 3}
    for body, status, error in [
        (result_body(job, job_id="run:1"), 400, "result.job_id"),
        (_trained(job, [model]), 409, "was not uploaded"),
        (result_body(job, log="x" * (300 * 1024)), 400, "result.log"),
    ]:
        answer = _send(checker, job, body)
        assert answer.status_code == status and error in answer.json()["error"]
    check.refresh_from_db()
    assert check.status == CheckStatus.RUNNING


def test_a_source_python_cannot_read_fails_before_it_leaves_the_site(
    checker, start_check
):
    check = start_check("def broken(:\n")
    assert checker.post("/runner/v1/jobs/request").status_code == 204
    check.refresh_from_db()
    assert check.status == CheckStatus.FAILED
    assert "Python cannot read your code" in check.reason
    assert not HostJob.objects.exists()


def test_a_check_replaced_while_on_a_runner_is_stopped_there(checker, start_check):
    first = start_check()
    job = claim(checker)["job"]
    second = start_check()
    first.refresh_from_db()
    assert first.status == CheckStatus.CANCELLED
    beat = checker.post("/runner/v1/heartbeat", {"jobs": [{"job": job, "log": "x"}]})
    assert beat.json()["jobs"][str(job)] == {"cancel": True}
    upload = checker.post(
        f"/runner/v1/jobs/{job}/uploads",
        {"name": "model.keras", "size": 3, "sha256": "a" * 64},
    )
    assert upload.status_code == 409
    # Its slot is free again, for the newer check.
    assert HostJob.objects.get(pk=claim(checker)["job"]).check_run_id == second.pk


def test_a_silent_runners_check_is_handed_back_by_the_one_reconciler(
    checker, start_check, settings, outbox, django_capture_on_commit_callbacks
):
    check = start_check()
    job = claim(checker)["job"]
    settings.DOJO_HEARTBEAT_GRACE_SECONDS = 60
    stale = timezone.now() - datetime.timedelta(seconds=61)
    CheckRun.objects.filter(pk=check.pk).update(heartbeat_at=stale)
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_reconcile()["requeued"] == 1
    token = check.job_token
    check.refresh_from_db()
    assert check.status == CheckStatus.QUEUED and check.job_token != token
    assert outbox == [], "runner-only: a runner takes it from the row"
    beat = checker.post("/runner/v1/heartbeat", {"jobs": [{"job": job, "log": None}]})
    assert beat.json()["jobs"][str(job)] == {"cancel": True}
    late = _send(checker, job, result_body(job))
    assert late.status_code == 409
    again = HostJob.objects.get(pk=claim(checker)["job"])
    assert again.check_run_id == check.pk and again.pk != job


def test_a_check_waiting_for_the_sites_grader_is_never_lost(
    checker, start_check, settings, outbox, django_capture_on_commit_callbacks
):
    """A lost message is sent again (same token) after its backoff; a grader
    lost mid-check gets the kept model checked again (new token); the model
    goes once the check is over."""
    check = start_check()
    job = claim(checker)["job"]
    model = _upload(checker, job)
    with django_capture_on_commit_callbacks(execute=True):
        _send(checker, job, _trained(job, [model]))
    check.refresh_from_db()
    token = check.job_token
    CheckRun.objects.filter(pk=check.pk).update(
        enqueued_at=timezone.now() - datetime.timedelta(days=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_reconcile()["resent"] == 1
    assert outbox[-1]["args"] == [check.pk, str(token)]
    grading = check_run_claim(
        check_id=check.pk, job_token=str(token), worker="check@site"
    )
    assert model_settle(check=grading) == ""  # taken, then the grader is lost
    stale = timezone.now() - datetime.timedelta(
        seconds=settings.DOJO_HEARTBEAT_GRACE_SECONDS + 5
    )
    CheckRun.objects.filter(pk=check.pk).update(heartbeat_at=stale)
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_reconcile()["requeued"] == 1
    check.refresh_from_db()
    assert check.status == CheckStatus.EVALUATING and check.job_token != token
    assert outbox[-1]["args"] == [check.pk, str(check.job_token)]
    kept_models_sweep()
    assert check.kept_model.is_file(), "kept while the check is active"
    start_check()  # replaces it
    kept_models_sweep()
    assert not check.kept_model.exists()


def test_a_runner_may_be_given_the_check_queue(instructor, settings):
    from runners.config import runner_settings_check
    from runners.hosts import join_token_create

    settings.DOJO_RUNNER_QUEUES = ["train-cpu", "check"]
    runner_settings_check()
    token, _ = join_token_create(created_by=instructor, workshop=None, queues=["check"])
    assert token.queues == ["check"]


def test_the_hosts_page_shows_the_check_a_runner_trains(
    checker, start_check, instructor, workshop, client
):
    check = start_check()
    claim(checker)
    client.force_login(instructor)
    page = client.get(f"/w/{workshop.slug}/hosts/").content.decode()
    assert f"check run {check.pk}" in page


def test_a_revoked_hosts_check_goes_back_at_once(checker, start_check):
    """Revoked mid-check: the check is queued again without using an attempt,
    and the host is refused from then on."""
    from runners.hosts import host_revoke

    check = start_check()
    job = claim(checker)["job"]
    assert host_revoke(host=Host.objects.get()) == 1
    check.refresh_from_db()
    assert (check.status, check.attempts) == (CheckStatus.QUEUED, 0)
    assert _send(checker, job, result_body(job)).status_code == 403


def _stage(runner: RunnerClient, job: int, tmp_path, body: bytes = MODEL) -> dict:
    """Announce and PUT `body` to the object store as the runner does."""
    from dojo_runner.client import Site

    digest = hashlib.sha256(body).hexdigest()
    announce = {"name": "model.keras", "size": len(body), "sha256": digest}
    signed = runner.post(f"/runner/v1/jobs/{job}/uploads", announce).json()
    path = tmp_path / "model.keras"
    path.write_bytes(body)
    Site("http://127.0.0.1:9").upload(signed["url"], path, len(body), signed["headers"])
    return {"name": "model.keras", "sha256": digest, "size_bytes": len(body)}


def _send_with_the_store_away(runner, job, result, settings):
    """An answer proves the request never read the store (a read would fail)."""
    from tests.seaweedfs import _free_ports

    (closed,) = _free_ports(1)
    endpoint = settings.DOJO_S3_ENDPOINT_URL
    settings.DOJO_S3_ENDPOINT_URL = f"http://127.0.0.1:{closed}"
    try:
        return _send(runner, job, result)
    finally:
        settings.DOJO_S3_ENDPOINT_URL = endpoint


def test_a_checks_staged_model_is_taken_by_the_check_worker_not_the_request(
    checker, start_check, object_store, tmp_path, settings
):
    """With the object store, a check's model takes the training's path: the
    result is answered while the store is unreachable, and the site's check
    worker reads the staged bytes back, verified, before it checks them."""
    check = start_check()
    job = claim(checker)["job"]
    model = _stage(checker, job, tmp_path)
    done = _send_with_the_store_away(checker, job, _trained(job, [model]), settings)
    assert done.json() == {"job": job, "verdict": "trained"}, done.content
    check.refresh_from_db()
    assert check.status == CheckStatus.EVALUATING
    assert not check.kept_model.exists()
    assert HostJob.objects.get(pk=job).pending["names"] == ["model.keras"]
    assert model_settle(check=check) == ""
    assert check.kept_model.read_bytes() == MODEL
    assert HostJob.objects.get(pk=job).pending is None
    assert {k for k in object_store.keys() if k.startswith("staging/")} == set()
    # Taken once: a resent message finds nothing waiting.
    assert model_settle(check=check) == ""


def test_other_bytes_staged_for_a_check_hand_its_training_back(
    checker, start_check, object_store, tmp_path
):
    """Bytes other than announced are the host's doing: the check worker
    trains the check again (a host claims it anew), never fails it."""
    from checks.execution import check_run_execute

    check = start_check()
    job = claim(checker)["job"]
    model = _stage(checker, job, tmp_path)
    key = HostJob.objects.get(pk=job).uploads["model.keras"]["key"]
    object_store.client().put_object(
        Bucket=object_store.bucket, Key=key, Body=b"Y" * len(MODEL)
    )
    assert _send(checker, job, _trained(job, [model])).json()["verdict"] == "trained"
    check.refresh_from_db()
    check_run_execute(
        check_id=check.pk, job_token=str(check.job_token), worker="check@site"
    )
    check.refresh_from_db()
    assert check.status == CheckStatus.QUEUED and check.attempts == 1
    assert not check.kept_model.exists()
    assert HostJob.objects.get(pk=job).pending is None
    again = claim(checker)["job"]
    assert again != job and HostJob.objects.get(pk=again).check_run_id == check.pk


def test_other_bytes_staged_for_a_check_with_no_attempts_left_end_it_error(
    checker, start_check, object_store, tmp_path, settings
):
    from checks.execution import check_run_execute

    settings.DOJO_MAX_ATTEMPTS = 1
    check = start_check()
    job = claim(checker)["job"]
    model = _stage(checker, job, tmp_path)
    key = HostJob.objects.get(pk=job).uploads["model.keras"]["key"]
    object_store.client().put_object(
        Bucket=object_store.bucket, Key=key, Body=b"Y" * len(MODEL)
    )
    _send(checker, job, _trained(job, [model]))
    check.refresh_from_db()
    check_run_execute(
        check_id=check.pk, job_token=str(check.job_token), worker="check@site"
    )
    check.refresh_from_db()
    assert check.status == CheckStatus.ERROR
    assert "other than those it announced" in check.reason
