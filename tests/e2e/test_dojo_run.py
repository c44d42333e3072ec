"""`make run` stops when asked, with a job running, and loses nothing.

bin/dojo-run (what `make run` starts) runs here on the test database and
broker; Ctrl-C is a SIGINT to its process group, as a terminal sends it.
"""

import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from submissions.models import Run, Status, Submission
from submissions.services.intake import submission_create
from submissions.services.reconcile import submission_health
from tests.helpers import ROOT, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LONG_JOB = (
    b"import time\nfor i in range(3000):\n    print('step', i)\n    time.sleep(0.1)\n"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _descendants(root: int) -> set[tuple[int, str]]:
    """Return (pid, start time) of every process below root, from /proc."""
    parents: dict[int, list[int]] = {}
    starts: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parents.setdefault(int(fields[1]), []).append(pid)
        starts[pid] = fields[19]
    found, todo = set(), [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.add((child, starts[child]))
            todo.append(child)
    return found


def _still_running(processes: set[tuple[int, str]]) -> list[int]:
    left = []
    for pid, start in processes:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[19] == start and fields[0] != "Z":
            left.append(pid)
    return left


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def dojo_run(tmp_path, _shared_worker):
    """Start bin/dojo-run on the test database; kill whatever is left at the end.

    The suite's shared worker is stopped first (it is restarted when next
    needed), so the job under test can only land in this run's worker.
    """
    from django.db import connection

    shared = _shared_worker.get("worker")
    if shared is not None:
        shared.stop()

    log = tmp_path / "dojo-run.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DOJO_TEST_DATABASE_NAME": str(connection.settings_dict["NAME"]),
        "PORT": str(_free_port()),
        "DOJO_WORKER_CONCURRENCY": "1",
    }
    mounts_before = _work_mounts()
    process = subprocess.Popen(
        ["bin/dojo-run"],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        # As from a terminal: a suite started as a background job of a
        # non-interactive shell inherits SIGINT ignored, and bash cannot trap
        # a signal ignored on entry, so Ctrl-C would never reach dojo-run.
        preexec_fn=_default_sigint,
    )
    process.mounts_before = mounts_before  # type: ignore[attr-defined]
    process.log = log  # type: ignore[attr-defined]
    process.port = env["PORT"]  # type: ignore[attr-defined]
    wait_for(
        lambda: b" ready." in log.read_bytes() or process.poll() is not None,
        timeout=90,
        what="the worker to be ready",
    )
    assert process.poll() is None, log.read_text()
    yield process
    for pid, _ in _descendants(process.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _work_mounts() -> set[str]:
    """Return the mount points under this run's work root (sized tmpfs dirs)."""
    from django.conf import settings

    root = str(settings.DOJO_WORK_ROOT).rstrip("/") + "/"
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts]
    return {point for point in points if point.startswith(root)}


def _running_job(participant, workshop) -> Submission:
    submission = submission_create(
        participant=participant,
        assignment=workshop.assignments.get(slug="mlp"),
        upload=SimpleUploadedFile("long.py", LONG_JOB),
    )
    wait_for(
        lambda: Run.objects.filter(
            submission=submission, log__contains="step 5"
        ).exists(),
        timeout=90,
        what="the job to run in its sandbox",
    )
    return submission


def _assert_handed_back(submission: Submission) -> None:
    """The interrupted job is queued again, with a message due, not lost."""
    from django.utils import timezone

    submission.refresh_from_db()
    run = submission.runs.get()
    assert run.finished_at is not None and run.outcome == "worker_lost"
    assert submission.status == Status.QUEUED
    assert submission.attempts == 0, "a stop by the operator uses no attempt"
    assert submission_health(submission=submission, now=timezone.now()).state == "due"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_one_signal_stops_everything_and_hands_jobs_back(
    dojo_run, participant, workshop, signum
):
    submission = _running_job(participant, workshop)
    processes = _descendants(dojo_run.pid)
    assert any(
        b"bwrap" in Path(f"/proc/{pid}/cmdline").read_bytes()
        for pid, _ in processes
        if Path(f"/proc/{pid}").exists()
    )
    os.killpg(dojo_run.pid, signum)
    # The promise is 10 s; the limit here only stops a hung test.
    dojo_run.wait(timeout=30)
    log = dojo_run.log.read_text()
    assert "Stopping Dojo" in log
    assert "Handed back 1 running job(s)" in log, log[-3000:]
    assert _still_running(processes) == []
    _assert_handed_back(submission)
    # The warm predictor's and the job's sized tmpfs work dirs were detached by
    # the processes that made them, not left mounted for a later sweep.
    assert _work_mounts() - dojo_run.mounts_before == set()


def test_a_second_ctrl_c_kills_at_once(dojo_run, participant, workshop):
    submission = _running_job(participant, workshop)
    processes = _descendants(dojo_run.pid)
    os.killpg(dojo_run.pid, signal.SIGINT)
    wait_for(
        lambda: "Stopping Dojo" in dojo_run.log.read_text(),
        timeout=10,
        what="the first stop",
    )
    os.killpg(dojo_run.pid, signal.SIGINT)
    dojo_run.wait(timeout=30)
    log = dojo_run.log.read_text()
    assert "Killing Dojo now." in log
    assert _still_running(processes) == []
    _assert_handed_back(submission)
    # The warm predictor's and the job's sized tmpfs work dirs were detached by
    # the processes that made them, not left mounted for a later sweep.
    assert _work_mounts() - dojo_run.mounts_before == set()


def test_console_starts_with_the_address_and_without_noise(dojo_run):
    """The first line names the address with its port; no superuser warnings
    (as root) or TensorFlow notes fill the console."""
    wait_for(
        lambda: "Dojo is running at" in dojo_run.log.read_text(),
        timeout=60,
        what="the site to start",
    )
    log = dojo_run.log.read_text()
    first = log.splitlines()[0]
    assert first.startswith(f"Starting Dojo at http://127.0.0.1:{dojo_run.port}/")
    assert "superuser privileges" not in log
    assert "cpu_feature_guard" not in log and "oneDNN custom operations" not in log
