"""Runner hosts that go away mid-job: killed, cut off the network mid-upload,
or revoked. Nothing is lost.

The site runs as a live server; each runner is a real `python -m dojo_runner`
process with nothing of the site in its environment; a site worker with beat
(short intervals) reconciles and grades. A runner whose network is cut runs
in a network namespace of its own (`tests.netns`), the site listening on the
host side of its veth pair; what isolation the namespace gives is proven in
tests/e2e/test_runners.py: here only the fault matters.
"""

import hashlib
import os
import signal
import subprocess
import uuid
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from runners.files import upload_dir
from runners.hosts import host_revoke, join_token_create
from runners.models import Host, HostJob
from submissions.models import Run, Status
from submissions.services.intake import submission_create
from tests.faults.conftest import assert_promises, settle
from tests.helpers import ROOT, wait_for
from tests.netns import RUNNER_ENV, inside, link, shape

pytestmark = [
    pytest.mark.faults,
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
]

PYTHON = ROOT / ".venv" / "bin" / "python"
# Slow to start on purpose, so a fault lands while the job trains.
SLOW_MLP = b"import time\ntime.sleep(8)\n" + (
    (ROOT / "assignments" / "dl101" / "mlp" / "solution.py")
    .read_bytes()
    .replace(b"epochs=10", b"epochs=1")
)


@pytest.fixture
def site_address() -> str:
    """Where the site listens: loopback, unless a test's runner has its own network."""
    return "127.0.0.1"


@pytest.fixture
def site(site_address, settings):
    from pytest_django.live_server_helper import LiveServer

    settings.DOJO_RUNNER_QUEUES = ["train-cpu"]
    settings.DOJO_RUNNER_POLL_SECONDS = 1
    server = LiveServer(f"{site_address}:0")
    yield server.url
    server.stop()


@pytest.fixture
def runners(site, instructor, settings):
    """Start runner processes (each joins with its own token); all end after.

    `netns`: run it in that network namespace (var/ under a tmpfs there);
    `options`: more of its command line. Its log is `process.log`.
    """
    started: list[subprocess.Popen] = []

    def start(name: str, *options: str, netns: dict | None = None) -> subprocess.Popen:
        _, token = join_token_create(
            created_by=instructor, workshop=None, queues=["train-cpu"]
        )
        # Its own folder: a credential kept there belongs to this test's host.
        folder = settings.RUN_DIR / f"runner-{name}-{uuid.uuid4().hex[:8]}"
        log = folder.with_suffix(".log")
        argv = ["-m", "dojo_runner", "--site", site, "--join", token]
        argv += ["--name", name, *options]
        output = {"stdout": log.open("wb"), "stderr": subprocess.STDOUT}
        if netns is None:
            process = subprocess.Popen(
                [str(PYTHON), *argv, "--dir", str(folder)],
                cwd=ROOT,
                env=RUNNER_ENV,
                start_new_session=True,
                **output,
            )
        else:
            process = inside(
                netns,
                'exec "$@" --dir var/runner',
                str(PYTHON),
                *argv,
                start_new_session=True,
                **output,
            )
        process.log = log
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def _training_on(name: str, submission) -> Run:
    return wait_for(
        lambda: Run.objects.filter(
            submission=submission,
            kind=Run.Kind.TRAIN,
            host=name,
            finished_at__isnull=True,
        ).first(),
        timeout=120,
        what=f"the training to start on {name}",
    )


def _submit(participant, workshop, script: bytes = SLOW_MLP):
    return submission_create(
        participant=participant,
        assignment=workshop.assignments.get(slug="mlp"),
        upload=SimpleUploadedFile("train.py", script),
    )


def test_a_runner_killed_mid_training_its_job_runs_on_another(
    fault_worker, runners, participant, workshop
):
    """SIGKILL of the runner (its sandbox dies with it): its heartbeats stop,
    the one reconciler hands the job back, and a second runner trains it."""
    fault_worker(DOJO_RUNNER_QUEUES="train-cpu")
    first = runners("doomed")
    submission = _submit(participant, workshop)
    _training_on("doomed", submission)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(10)
    runners("second")
    (submission,) = settle([submission])
    assert submission.status == Status.GRADED, submission.status_reason
    trainings = submission.runs.filter(kind=Run.Kind.TRAIN).order_by("started_at")
    assert [(r.host, r.outcome) for r in trainings] == [
        ("doomed", "worker_lost"),
        ("second", "ok"),
    ]
    assert_promises([submission])


def test_a_runner_revoked_mid_job_is_shut_out_and_its_job_runs_elsewhere(
    fault_worker, runners, participant, workshop
):
    """Revoked on the hosts page while it trains: the job goes back at once
    (no attempt used), the runner is refused, stops its sandbox and exits."""
    fault_worker(DOJO_RUNNER_QUEUES="train-cpu")
    first = runners("revoked")
    submission = _submit(participant, workshop)
    run = _training_on("revoked", submission)
    assert host_revoke(host=Host.objects.get(name="revoked")) == 1
    assert first.wait(timeout=60) == 0
    runners("second")
    (submission,) = settle([submission])
    assert submission.status == Status.GRADED, submission.status_reason
    run.refresh_from_db()
    assert run.outcome == "worker_lost" and not run.artifact_path
    assert (
        submission.runs.filter(kind=Run.Kind.TRAIN, host="second").get().outcome == "ok"
    )
    assert_promises([submission])


# The MLP reference, one epoch: its model (about 1.2 MB) takes seconds to
# upload through a link held to RATE, so the test can cut it midway.
MLP = (
    (ROOT / "assignments" / "dl101" / "mlp" / "solution.py")
    .read_bytes()
    .replace(b"epochs=10", b"epochs=1")
)
RATE = "2mbit"
# How long the runner waits on a request that moves nothing.
RUNNER_TIMEOUT = "3"


def _said(process: subprocess.Popen, text: str) -> bool:
    return text in process.log.read_text(errors="replace")


def _cut_mid_upload(netns: dict, runners, participant, workshop) -> tuple:
    """Start a runner in `netns`, train a submission there, and cut the
    runner's network while the site stores its model; return the runner, the
    submission and the runner's job.

    The site writes an upload beside its place while it streams (a `.part`);
    that file is the upload in flight. Nothing of it may count until it is whole.
    """
    shape(netns, rate=RATE)
    process = runners("cut", "--timeout", RUNNER_TIMEOUT, netns=netns)
    submission = _submit(participant, workshop, MLP)
    job = wait_for(
        lambda: HostJob.objects.filter(run__submission=submission).first(),
        timeout=120,
        what="the runner to claim the training",
    )
    folder = upload_dir(job)

    def streaming() -> bool:
        if process.poll() is not None:
            pytest.fail(f"the runner stopped:\n{process.log.read_text()[-3000:]}")
        return any(folder.glob(".model.keras.*.part"))

    wait_for(streaming, timeout=180, every=0.05, what="the model's upload to start")
    link(netns, up=False)
    job.refresh_from_db()
    assert job.uploads == {} and not (folder / "model.keras").exists()
    return process, submission, job


def _nothing_kept(job: HostJob) -> None:
    """Nothing of the job's uploads counts: none recorded, no file in place.

    (The `.part` of a cut try goes when the site's server sees that
    connection end, which a cut network may delay: it is never read.)
    """
    job.refresh_from_db()
    assert job.uploads == {} and job.result_at is None
    folder = upload_dir(job)
    assert not folder.exists() or not [
        p for p in folder.iterdir() if not p.name.startswith(".")
    ]


class TestNetworkCutMidUpload:
    """The runner's veth goes down while the site stores its model."""

    @pytest.fixture
    def site_address(self, netns) -> str:
        return netns["site"]

    def test_back_within_the_grace_the_upload_is_retried_and_graded(
        self, netns, fault_worker, runners, participant, workshop, settings
    ):
        """The cut try leaves nothing; once the network is back the runner asks
        for a fresh URL, uploads the model whole, and the job is graded where
        it trained: no hand back, no second training."""
        grace = "60"
        settings.DOJO_HEARTBEAT_GRACE_SECONDS = int(grace)
        fault_worker(DOJO_RUNNER_QUEUES="train-cpu", DOJO_HEARTBEAT_GRACE_SECONDS=grace)
        runner, submission, job = _cut_mid_upload(netns, runners, participant, workshop)
        wait_for(
            lambda: _said(runner, "uploading model.keras failed"),
            timeout=60,
            what="the runner's upload to fail on the cut network",
        )
        shape(netns, rate=None)
        link(netns, up=True)
        (submission,) = settle([submission])
        assert submission.status == Status.GRADED, submission.status_reason
        (training,) = submission.runs.filter(kind=Run.Kind.TRAIN)
        assert (training.host, training.outcome) == ("cut", "ok")
        job.refresh_from_db()
        kept = Path(training.artifact_path).read_bytes()
        assert job.uploads["model.keras"] == {
            "sha256": hashlib.sha256(kept).hexdigest(),
            "size": len(kept),
        }
        # A URL for each try: the cut one, then at least the one that worked.
        tries = runner.log.read_text().count(
            "asking for a new URL to upload model.keras"
        )
        assert tries >= 2, runner.log.read_text()[-3000:]
        # The job's uploads went with its result: only the kept model stays.
        assert not upload_dir(job).exists()
        assert_promises([submission])

    def test_cut_past_the_grace_the_job_is_handed_back_and_runs_elsewhere(
        self, netns, fault_worker, runners, participant, workshop
    ):
        """The reconciler hands the job back; a second runner trains it; the
        first, back on the network, is told the job is no longer its own and
        sends nothing."""
        fault_worker(DOJO_RUNNER_QUEUES="train-cpu")
        first, submission, job = _cut_mid_upload(netns, runners, participant, workshop)
        wait_for(
            lambda: Run.objects.filter(
                pk=job.run_id, outcome=Run.Outcome.WORKER_LOST
            ).exists(),
            timeout=60,
            what="the reconciler to hand the job back",
        )
        runners("second")
        (submission,) = settle([submission])
        assert submission.status == Status.GRADED, submission.status_reason
        trainings = submission.runs.filter(kind=Run.Kind.TRAIN).order_by("started_at")
        assert [(r.host, r.outcome) for r in trainings] == [
            ("cut", "worker_lost"),
            ("second", "ok"),
        ]
        shape(netns, rate=None)
        link(netns, up=True)
        wait_for(
            lambda: _said(first, "not sent"),
            timeout=60,
            what="the first runner to give the job up",
        )
        _nothing_kept(job)
        assert_promises([submission])
