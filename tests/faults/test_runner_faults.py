"""Runner hosts that go away mid-job: killed, or revoked. Nothing is lost.

The site runs as a live server; each runner is a real `python -m dojo_runner`
process with nothing of the site in its environment; a site worker with beat
(short intervals) reconciles and grades. Network namespaces are proven in
tests/e2e/test_runners.py: here only the fault matters.
"""

import os
import signal
import subprocess
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from runners.hosts import host_revoke, join_token_create
from runners.models import Host
from submissions.models import Run, Status
from submissions.services.intake import submission_create
from tests.faults.conftest import assert_promises, settle
from tests.helpers import ROOT, wait_for

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
def site(settings):
    from pytest_django.live_server_helper import LiveServer

    settings.DOJO_RUNNER_QUEUES = ["train-cpu"]
    settings.DOJO_RUNNER_POLL_SECONDS = 1
    server = LiveServer("127.0.0.1:0")
    yield server.url
    server.stop()


@pytest.fixture
def runners(site, instructor, settings):
    """Start runner processes (each joins with its own token); all end after."""
    started: list[subprocess.Popen] = []

    def start(name: str) -> subprocess.Popen:
        _, token = join_token_create(
            created_by=instructor, workshop=None, queues=["train-cpu"]
        )
        # Its own folder: a credential kept there belongs to this test's host.
        folder = settings.RUN_DIR / f"runner-{name}-{uuid.uuid4().hex[:8]}"
        log = folder.with_suffix(".log").open("wb")
        process = subprocess.Popen(
            [
                str(PYTHON),
                "-m",
                "dojo_runner",
                "--site",
                site,
                "--join",
                token,
                "--name",
                name,
                "--dir",
                str(folder),
            ],
            cwd=ROOT,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": "/tmp"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
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


def _submit(participant, workshop):
    return submission_create(
        participant=participant,
        assignment=workshop.assignments.get(slug="mlp"),
        upload=SimpleUploadedFile("train.py", SLOW_MLP),
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
