"""The runner API refuses what a hostile host sends, and moves a job only for
the host that holds it (in-process: the runner's HTTP, no sandbox)."""

import hashlib
import io
import json
import tarfile
import time

import pytest
from django.core import signing

from jobs.reconcile import jobs_reconcile
from runners.models import Host, HostJob, JoinToken
from submissions.models import Run, Status
from tests.runners.conftest import RunnerClient, join
from tests.runners.conftest import claim as _claim
from tests.runners.conftest import result_body as _result

pytestmark = pytest.mark.django_db

SHA = "a" * 64


def _run(job: int) -> Run:
    """Return the training run a runner's job number stands for."""
    return HostJob.objects.get(pk=job).run


def test_a_join_token_works_once_and_only_its_digest_is_kept(instructor, settings):
    from runners.hosts import join_token_create

    token, secret = join_token_create(
        created_by=instructor, workshop=None, queues=["train-cpu"]
    )
    runner = RunnerClient()
    first = runner.post("/runner/v1/register", {"token": secret, "name": "h1"})
    assert first.status_code == 201
    credential = first.json()["credential"]
    again = runner.post("/runner/v1/register", {"token": secret, "name": "h2"})
    assert again.status_code == 403 and "used already" in again.json()["error"]
    host = Host.objects.get()
    assert credential not in json.dumps(list(Host.objects.values()), default=str)
    assert secret not in json.dumps(list(JoinToken.objects.values()), default=str)
    assert host.credential_sha256 == hashlib.sha256(credential.encode()).hexdigest()
    # An expired token, a bad name and a made-up token are refused, naming why.
    _, old = join_token_create(
        created_by=instructor, workshop=None, queues=["train-cpu"]
    )
    JoinToken.objects.filter(host__isnull=True).update(expires_at=token.created_at)
    expired = runner.post("/runner/v1/register", {"token": old, "name": "h3"})
    assert expired.status_code == 403 and "expired" in expired.json()["error"]
    _, fresh = join_token_create(
        created_by=instructor, workshop=None, queues=["train-cpu"]
    )
    bad = runner.post("/runner/v1/register", {"token": fresh, "name": "../etc"})
    assert bad.status_code == 400 and bad.json()["error"].startswith("name:")
    slots = runner.post(
        "/runner/v1/register", {"token": fresh, "name": "ok", "slots": 10_000}
    )
    assert slots.status_code == 400 and slots.json()["error"].startswith("slots:")
    made_up = runner.post("/runner/v1/register", {"token": "dojoj_x", "name": "h4"})
    assert made_up.status_code == 403


def test_a_join_token_refuses_queues_a_runner_may_not_serve(instructor):
    from runners.hosts import join_token_create
    from runners.refusals import RunnerRefused

    with pytest.raises(RunnerRefused, match="queues"):
        join_token_create(created_by=instructor, workshop=None, queues=["evaluate"])


def test_a_runner_gets_the_spec_and_files_by_digest_and_nothing_hidden(host, queued):
    handout = _claim(host)
    queued.refresh_from_db()
    assert queued.status == Status.TRAINING
    run = _run(handout["job"])
    assert run.worker.startswith("runner-") and run.host == "gpu-1"
    spec = handout["spec"]
    assert spec["kind"] == "train" and spec["job_id"] == f"run:{run.pk}"
    script = b"".join(host.get(handout["script"]["url"]).streaming_content)
    assert script == b"print('hi')\n"
    assert hashlib.sha256(script).hexdigest() == spec["script_sha256"]
    (data,) = handout["data"]
    archive = b"".join(host.get(data["url"]).streaming_content)
    assert hashlib.sha256(archive).hexdigest() == data["sha256"]
    assert len(archive) == data["size"]
    names = tarfile.open(fileobj=io.BytesIO(archive)).getnames()
    assert names and not any("hidden" in n or "test" in n for n in names), names
    # No second job while its one slot is busy.
    assert host.post("/runner/v1/jobs/request").status_code == 204


def test_tampered_expired_and_misused_urls_are_refused(host, queued, monkeypatch):
    handout = _claim(host)
    url = handout["script"]["url"]
    tampered = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    assert host.get(tampered).status_code == 403
    # A download URL is no upload URL.
    assert host.put(url, b"x").status_code == 403
    later = time.time() + 3600
    monkeypatch.setattr(signing.time, "time", lambda: later)
    expired = host.get(url)
    assert expired.status_code == 403 and "expired" in expired.json()["error"]


def test_another_hosts_job_is_refused_everywhere(host, instructor, queued):
    handout = _claim(host)
    job = handout["job"]
    other = join(instructor=instructor, name="other")
    upload = other.post(
        f"/runner/v1/jobs/{job}/uploads",
        {"name": "model.keras", "size": 3, "sha256": SHA},
    )
    assert upload.status_code == 409
    result = other.post(f"/runner/v1/jobs/{job}/result", {"result": _result(job)})
    assert result.status_code == 409
    beat = other.post("/runner/v1/heartbeat", {"jobs": [{"job": job, "log": "x"}]})
    assert beat.json()["jobs"][str(job)] == {"cancel": True}
    assert _run(job).log == ""


def test_uploads_must_have_the_signed_length_and_digest(host, queued):
    job = _claim(host)["job"]
    body = b"not really a model"
    digest = hashlib.sha256(body).hexdigest()
    announce = {"name": "model.keras", "size": len(body), "sha256": digest}
    signed = host.post(f"/runner/v1/jobs/{job}/uploads", announce).json()
    # One protocol for both stores: here no header to send (test_objectstore).
    assert signed["headers"] == {}
    url = signed["url"]
    # Other bytes of the same length: refused, nothing stored.
    wrong = host.put(url, b"X" * len(body))
    assert wrong.status_code == 400 and "sha256" in wrong.json()["error"]
    longer = host.put(url, body + b"!")
    assert longer.status_code == 411 and "Content-Length" in longer.json()["error"]
    assert HostJob.objects.get(pk=job).uploads == {}
    assert host.put(url, body).status_code == 201
    assert HostJob.objects.get(pk=job).uploads["model.keras"]["sha256"] == digest
    # Too large, not asked for, or not a digest: refused before any byte moves.
    for field, change in [
        ("size", {"size": 10**12}),
        ("name", {"name": "../../etc/passwd"}),
        ("sha256", {"sha256": "zz"}),
    ]:
        answer = host.post(f"/runner/v1/jobs/{job}/uploads", {**announce, **change})
        assert answer.status_code in (400, 413)
        assert answer.json()["error"].startswith(f"{field}:"), answer.json()


def test_oversized_and_malformed_bodies_are_refused(host, queued):
    job = _claim(host)["job"]
    huge = host.post(
        "/runner/v1/heartbeat", {"jobs": [{"job": job, "log": "x" * (11 * 2**20)}]}
    )
    assert huge.status_code == 413
    deep = host.client.post(
        "/runner/v1/heartbeat",
        data="[" * 100 + "]" * 100,
        content_type="application/json",
        **host.headers(),
    )
    assert deep.status_code == 400 and "nested" in deep.json()["error"]
    long_log = host.post(
        "/runner/v1/heartbeat", {"jobs": [{"job": job, "log": "x" * (2 * 2**20)}]}
    )
    assert long_log.status_code == 400 and "log" in long_log.json()["error"]
    bad_result = host.post(
        f"/runner/v1/jobs/{job}/result", {"result": _result(job, ending="won")}
    )
    assert bad_result.status_code == 400
    assert bad_result.json()["error"].startswith("result.ending")


def test_a_result_names_only_whole_uploads_and_is_applied_once(host, queued):
    job = _claim(host)["job"]
    beat = host.post("/runner/v1/heartbeat", {"jobs": [{"job": job, "log": "epoch"}]})
    assert beat.json()["jobs"][str(job)] == {"cancel": False}
    assert _run(job).log == "epoch"
    fake = [{"name": "model.keras", "sha256": SHA, "size_bytes": 3}]
    unsent = host.post(
        f"/runner/v1/jobs/{job}/result",
        {"result": _result(job, ending="ok", exit_code=0, artifacts=fake)},
    )
    assert unsent.status_code == 409 and "was not uploaded" in unsent.json()["error"]
    done = host.post(f"/runner/v1/jobs/{job}/result", {"result": _result(job)})
    assert done.status_code == 200, done.content
    queued.refresh_from_db()
    assert queued.status == Status.FAILED
    assert "ValueError: no" in queued.status_reason
    assert Host.objects.get().jobs_done == 1
    again = host.post(f"/runner/v1/jobs/{job}/result", {"result": _result(job)})
    assert again.status_code == 409


def test_a_local_upload_is_kept_by_the_sites_worker_not_the_result_request(
    host, queued
):
    """On the site's own disk as in the object store, the result request reads
    no model: it records the training and notes the upload, and the worker
    that evaluates takes it (here the keeper refuses these bytes, as it
    refuses them from a site worker's sandbox)."""
    from runners.files import upload_dir
    from submissions.extensions import model_settle

    job = _claim(host)["job"]
    body = b"not a Keras archive"
    digest = hashlib.sha256(body).hexdigest()
    announce = {"name": "model.keras", "size": len(body), "sha256": digest}
    url = host.post(f"/runner/v1/jobs/{job}/uploads", announce).json()["url"]
    assert host.put(url, body).status_code == 201
    model = {"name": "model.keras", "sha256": digest, "size_bytes": len(body)}
    done = host.post(
        f"/runner/v1/jobs/{job}/result",
        {"result": _result(job, ending="ok", exit_code=0, artifacts=[model])},
    )
    assert done.json()["verdict"] == "trained", done.content
    held = HostJob.objects.get(pk=job)
    assert held.pending["names"] == ["model.keras"]
    assert (upload_dir(held) / "model.keras").read_bytes() == body
    assert not held.run.artifact_path
    queued.refresh_from_db()
    assert queued.status == Status.EVALUATING
    assert model_settle(submission=queued)  # the keeper's reason
    assert HostJob.objects.get(pk=job).pending is None
    assert not upload_dir(held).exists()


def test_a_revoked_host_is_refused_and_its_job_handed_back(host, queued):
    from runners.hosts import host_revoke

    job = _claim(host)["job"]
    assert host_revoke(host=Host.objects.get()) == 1
    queued.refresh_from_db()
    assert queued.status == Status.QUEUED and queued.job_token != _run(job).job_token
    for path in ("/runner/v1/jobs/request", "/runner/v1/heartbeat"):
        answer = host.post(path)
        assert answer.status_code == 403 and "revoked" in answer.json()["error"]
    assert host.post(f"/runner/v1/jobs/{job}/result").status_code == 403
    nobody = RunnerClient("dojoh_made-up")
    assert nobody.post("/runner/v1/jobs/request").status_code == 401


def test_a_silent_runners_job_is_handed_back_by_the_one_reconciler(
    host, queued, settings
):
    """Heartbeats stop: past the grace the reconciler requeues the job, and the
    runner, should it come back, is told to cancel and its result is refused."""
    import datetime

    from django.utils import timezone

    job = _claim(host)["job"]
    settings.DOJO_HEARTBEAT_GRACE_SECONDS = 60
    stale = timezone.now() - datetime.timedelta(seconds=61)
    Run.objects.filter(pk=_run(job).pk).update(heartbeat_at=stale)
    assert jobs_reconcile()["requeued"] == 1
    queued.refresh_from_db()
    assert queued.status == Status.QUEUED
    assert _run(job).outcome == Run.Outcome.WORKER_LOST
    beat = host.post("/runner/v1/heartbeat", {"jobs": [{"job": job, "log": None}]})
    assert beat.json()["jobs"][str(job)] == {"cancel": True}
    late = host.post(f"/runner/v1/jobs/{job}/result", {"result": _result(job)})
    assert late.status_code == 409
    # Waiting for a runner is no lost message: the reconciler leaves it be.
    assert jobs_reconcile()["resent"] == 0
    # And the next claim (any host's) runs it again.
    assert _claim(host)["job"] != job


def test_runner_only_queues_send_no_broker_message(queued, outbox):
    assert queued.status == Status.QUEUED and queued.enqueued_at is not None
    assert [m for m in outbox if m["queue"] == "train-cpu"] == []


def test_runner_settings_out_of_range_are_refused_by_name(settings):
    from django.core.exceptions import ImproperlyConfigured

    from runners.config import runner_settings_check

    settings.DOJO_RUNNER_QUEUES = ["evaluate"]
    with pytest.raises(ImproperlyConfigured, match="DOJO_RUNNER_QUEUES"):
        runner_settings_check()
    settings.DOJO_RUNNER_QUEUES = []
    for name in (
        "DOJO_RUNNER_POLL_SECONDS",
        "DOJO_RUNNER_URL_SECONDS",
        "DOJO_RUNNER_JOIN_SECONDS",
    ):
        value = getattr(settings, name)
        setattr(settings, name, -1)
        with pytest.raises(ImproperlyConfigured, match=name):
            runner_settings_check()
        setattr(settings, name, value)
    for polls in (-1, 7):
        settings.DOJO_RUNNER_LONG_POLLS = polls
        with pytest.raises(ImproperlyConfigured, match="DOJO_RUNNER_LONG_POLLS"):
            runner_settings_check()


def test_past_the_held_requests_a_runner_is_answered_at_once(host, settings):
    """Each web process holds at most DOJO_RUNNER_LONG_POLLS requests for work
    open; past them one claim is tried, and with no job the runner is told
    when to ask again instead of holding another of the process's threads."""
    from runners import jobs

    settings.DOJO_RUNNER_QUEUES = ["train-cpu"]
    settings.DOJO_RUNNER_POLL_SECONDS = 60
    settings.DOJO_RUNNER_LONG_POLLS = 1
    with jobs.long_poll_place() as held:
        assert held
        answer = host.post("/runner/v1/jobs/request")
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"job": None, "retry_after": jobs.RETRY_AFTER_SECONDS}
    # The place was given back: the next request may wait (none waits here).
    settings.DOJO_RUNNER_POLL_SECONDS = 0
    assert host.post("/runner/v1/jobs/request").status_code == 204


def test_a_runner_turned_away_still_gets_a_job_that_waits(host, queued, settings):
    settings.DOJO_RUNNER_LONG_POLLS = 0
    answer = host.post("/runner/v1/jobs/request")
    assert answer.status_code == 201, answer.content
    assert _run(answer.json()["job"]).submission_id == queued.pk


def test_an_upload_cut_midway_leaves_nothing(host, queued):
    """The network drops mid-upload: the bytes that came are not kept, and a
    fresh URL for the same upload then stores it whole."""
    from runners.files import upload_dir, upload_store
    from runners.refusals import RunnerRefused

    job = HostJob.objects.get(pk=_claim(host)["job"])
    body = b"model bytes" * 100
    digest = hashlib.sha256(body).hexdigest()
    with pytest.raises(RunnerRefused, match="nothing was kept"):
        upload_store(
            job=job,
            name="model.keras",
            size=len(body),
            sha256=digest,
            stream=io.BytesIO(body[:500]),
        )
    assert list(upload_dir(job).iterdir()) == []
    upload_store(
        job=job,
        name="model.keras",
        size=len(body),
        sha256=digest,
        stream=io.BytesIO(body),
    )
    assert (upload_dir(job) / "model.keras").read_bytes() == body


def test_a_host_without_the_sites_keras_backend_gets_no_training(
    host, queued, settings
):
    """Its job could only fail on the import, charged to the participant."""
    Host.objects.update(facts={"keras_backends": ["torch"]})
    assert host.post("/runner/v1/jobs/request").status_code == 204
    settings.DOJO_KERAS_BACKEND = "torch"
    assert host.post("/runner/v1/jobs/request").status_code == 201


def test_a_request_for_work_may_ask_not_to_wait(host, queued, settings):
    """A runner about to start a warm spare asks without waiting: it gets the
    waiting job as a long poll would; a `wait` other than true or false, or a
    field a request for work does not have, is refused."""
    from runners.jobs import claim_wait_seconds

    settings.DOJO_RUNNER_POLL_SECONDS = 7
    assert claim_wait_seconds(data={}) == 7
    assert claim_wait_seconds(data={"wait": True}) == 7
    assert claim_wait_seconds(data={"wait": False}) == 0
    for body in ({"wait": "no"}, {"wait": 0}, {"slots": 2}):
        answer = host.post("/runner/v1/jobs/request", body)
        assert answer.status_code == 400, body
    assert host.post("/runner/v1/jobs/request", {"wait": False}).status_code == 201


# What `dojo-runner --gpu 0` says of an H100 with MPS (dojo_runner.cli.host_facts).
H100 = {
    "index": 0,
    "name": "NVIDIA H100 80GB HBM3",
    "memory_mb": 81559,
    "mps": True,
    "slot_memory_mb": 5120,
}


@pytest.fixture
def gpu_queued(participant, other_participant, workshop, outbox, settings):
    """A GPU assignment's training queued for runners (train-gpu), and a CPU
    one's (train-cpu), by two participants (fair share holds back a second
    job of one), with no broker message."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from submissions.services.intake import submission_create
    from submissions.services.lifecycle import submission_enqueue

    settings.DOJO_RUNNER_QUEUES = ["train-cpu", "train-gpu"]
    settings.DOJO_RUNNER_POLL_SECONDS = 0
    made = {}
    for who, slug, queue in (
        (participant, "cnn", "gpu"),
        (other_participant, "mlp", "cpu"),
    ):
        assignment = workshop.assignments.get(slug=slug)
        assignment.queue = queue
        assignment.save(update_fields=["queue"])
        submission = submission_create(
            participant=who,
            assignment=assignment,
            upload=SimpleUploadedFile("train.py", b"print('hi')\n"),
        )
        submission_enqueue(submission_id=submission.pk)
        made[queue] = submission
    return made


def test_a_host_that_says_it_has_no_gpu_never_gets_a_train_gpu_job(
    instructor, gpu_queued
):
    """A token for train-gpu alone is refused to it (and stays unused); one
    for both queues gives it train-cpu only; a host that holds train-gpu
    without a GPU in its facts (joined before they were checked) is passed by."""
    from runners.hosts import join_token_create

    _, secret = join_token_create(
        created_by=instructor, workshop=None, queues=["train-gpu"]
    )
    refused = RunnerClient().post(
        "/runner/v1/register",
        {"token": secret, "name": "cpu-only", "facts": {"gpus": []}},
    )
    assert refused.status_code == 400
    assert "--gpu N" in refused.json()["error"]
    assert JoinToken.objects.get().used_at is None
    cpu = join(instructor=instructor, name="cpu", queues=("train-cpu", "train-gpu"))
    assert Host.objects.get(name="cpu").queues == ["train-cpu"]
    handout = _claim(cpu)
    assert _run(handout["job"]).submission == gpu_queued["cpu"]
    assert handout["gpu"] is False
    # Stored before GPU facts were checked: anything but a card is none.
    Host.objects.filter(name="cpu").update(
        queues=["train-gpu"], slots=2, facts={"gpus": [{"name": "H100"}]}
    )
    assert cpu.post("/runner/v1/jobs/request").status_code == 204
    gpu_queued["gpu"].refresh_from_db()
    assert gpu_queued["gpu"].status == Status.QUEUED


def test_a_host_that_registered_a_gpu_trains_gpu_jobs_on_it(instructor, gpu_queued):
    """Its GPU job is handed out to be placed on the card; its CPU-queue job
    off it. The hosts page shows the card."""
    from django.test import Client

    runner = join(
        instructor=instructor,
        name="h100",
        queues=("train-cpu", "train-gpu"),
        facts={"gpus": [H100], "keras_backends": ["tensorflow"]},
    )
    host = Host.objects.get()
    assert host.queues == ["train-cpu", "train-gpu"]
    assert host.facts["gpus"] == [H100]
    Host.objects.update(slots=2)
    first, second = _claim(runner), _claim(runner)
    on_card = {
        _run(h["job"]).submission.assignment.queue: h["gpu"] for h in (first, second)
    }
    assert on_card == {"gpu": True, "cpu": False}
    assert _run(first["job"]).queue in ("train-gpu", "train-cpu")
    page = Client()
    page.force_login(instructor)
    workshop = gpu_queued["gpu"].assignment.workshop
    text = page.get(f"/w/{workshop.slug}/hosts/").content.decode()
    assert "GPU 0 NVIDIA H100 80GB HBM3 (81559 MB), MPS 5120 MB a slot" in text


@pytest.mark.parametrize(
    ("gpus", "field"),
    [
        ("H100", "facts.gpus:"),
        ([H100] * 17, "facts.gpus:"),
        ([{**H100, "index": -1}], "facts.gpus[0].index:"),
        ([{**H100, "index": True}], "facts.gpus[0].index:"),
        ([{**H100, "index": 10**30}], "facts.gpus[0].index:"),
        ([{**H100, "memory_mb": 1.5}], "facts.gpus[0].memory_mb:"),
        ([{**H100, "name": "<script>" + "x" * 60}], "facts.gpus[0].name:"),
        ([{**H100, "mps": "yes"}], "facts.gpus[0].mps:"),
        ([{**H100, "shell": "rm -rf /"}], "facts.gpus[0]:"),
        ([{"name": "no index"}], "facts.gpus[0]:"),
        ([H100, H100], "facts.gpus:"),
    ],
)
def test_what_a_host_says_of_its_gpus_is_typed_and_bounded(instructor, gpus, field):
    """They decide which jobs it gets: anything else is refused, naming it."""
    from runners.hosts import join_token_create

    _, secret = join_token_create(
        created_by=instructor, workshop=None, queues=["train-gpu"]
    )
    answer = RunnerClient().post(
        "/runner/v1/register",
        {"token": secret, "name": "liar", "facts": {"gpus": gpus}},
    )
    assert answer.status_code == 400, answer.content
    assert answer.json()["error"].startswith(field)
    assert not Host.objects.exists()
