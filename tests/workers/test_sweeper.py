"""The periodic sweeper retries failed cleanups and removes what no job owns."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from config.celery_app import app
from submissions import storage
from submissions.models import Run, Submission
from submissions.services.intake import submission_create
from submissions.services.jobs import run_start
from submissions.services.sweep import work_dirs_sweep
from workshops import folders

pytestmark = pytest.mark.django_db


def _submission(participant, workshop, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        return submission_create(
            participant=participant,
            assignment=workshop.assignments.get(slug="mlp"),
            upload=SimpleUploadedFile("train.py", b"print(1)\n"),
        )


def _age(*folders: Path) -> None:
    """Make folders and their claims look decades old."""
    for folder in folders:
        for path in (folder, folder.with_name(folder.name + ".owner")):
            if path.exists():
                os.utime(path, (0, 0))


def _claimed_by_a_process_that_exited(name: str) -> Path:
    """Claim a work dir in a process that then exits, as a killed worker would."""
    folder = Path(settings.DOJO_WORK_ROOT) / name
    claim = "import sys; from workers.sandbox import claim_work_dir; "
    claim += "claim_work_dir(sys.argv[1])"
    root = Path(__file__).resolve().parents[2]
    subprocess.run(
        [sys.executable, "-c", claim, str(folder)],
        env={**os.environ, "PYTHONPATH": str(root)},
        check=True,
    )
    return folder


def _deep(folder: Path, depth: int = 3000) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = inner
    os.close(fd)


def test_sweeper_removes_orphans_and_keeps_live_jobs(
    participant, workshop, django_capture_on_commit_callbacks
) -> None:
    """Dirs whose owner process is gone go (deep trees too), whatever their run
    says; a live owner's dir and a fresh unknown folder stay; artifacts of
    deleted runs and deleted submissions go, those of existing runs stay."""
    submission = _submission(participant, workshop, django_capture_on_commit_callbacks)
    live = run_start(
        submission=submission, kind=Run.Kind.TRAIN, queue="train-cpu", worker="w@h"
    )
    root = Path(settings.DOJO_WORK_ROOT)
    keep = [folders.work_dir(f"run-{live.pk}"), folders.work_dir("fresh-unknown")]
    gone = [
        _claimed_by_a_process_that_exited(f"run-{live.pk}-job"),
        _claimed_by_a_process_that_exited("eval-999999"),
        _claimed_by_a_process_that_exited("spare-1-a1b2c3"),
    ]
    _deep(gone[0])
    old_unknown = root / ".dojo-stash-old"
    old_unknown.mkdir()
    gone.append(old_unknown)
    _age(*keep[:1], *gone)
    artifacts = Path(settings.DOJO_ARTIFACT_ROOT)
    kept_artifact = storage.artifact_dir(submission.pk) / f"run-{live.pk}"
    deleted_run_artifact = storage.artifact_dir(submission.pk) / "run-888888"
    deleted_submission = artifacts / "777777"
    for folder in (kept_artifact, deleted_run_artifact, deleted_submission / "run-1"):
        folder.mkdir(parents=True)
        (folder / "model.keras").write_bytes(b"model")

    counts = work_dirs_sweep()

    assert all(p.exists() for p in keep), [p for p in keep if not p.exists()]
    assert not any(p.exists() for p in gone), [p for p in gone if p.exists()]
    assert (kept_artifact / "model.keras").exists()
    assert not deleted_run_artifact.exists()
    assert not deleted_submission.exists()
    # Earlier tests in the session may have left orphans of their own.
    assert counts["work_dirs"] >= len(gone) and counts["artifacts"] >= 2
    assert counts["failed"] == 0
    assert root.is_dir()
    for path in keep:
        folders.discard(path)
    Submission.objects.filter(pk=submission.pk).delete()


def test_sweeper_is_scheduled_on_a_queue_beat_reads() -> None:
    """Beat sends the sweep to `site`, a queue the CPU worker (beat's) consumes."""
    from submissions import tasks

    app.finalize()
    entries = [
        e
        for e in app.conf.beat_schedule.values()
        if e["task"] == "submissions.tasks.sweep_work_dirs"
    ]
    assert [e["options"]["queue"] for e in entries] == ["site"]
    assert app.conf.task_routes["submissions.tasks.sweep_work_dirs"]["queue"] == "site"
    assert tasks.sweep_work_dirs.name == "submissions.tasks.sweep_work_dirs"


def test_a_regrade_round_stays_while_it_runs_after_its_first_run_ended(
    participant, workshop, django_capture_on_commit_callbacks
) -> None:
    """A cold round's folders are named after the chunk's first run, which ends
    first: they stay while the process grading the round lives (here, this
    one), however old, though that run has finished and the next still runs."""
    submission = _submission(participant, workshop, django_capture_on_commit_callbacks)
    first = run_start(
        submission=submission, kind=Run.Kind.EVALUATE, queue="evaluate", worker="w@h"
    )
    submission.job_token = uuid.uuid4()
    second = run_start(
        submission=submission, kind=Run.Kind.EVALUATE, queue="evaluate", worker="w@h"
    )
    Run.objects.filter(pk=first.pk).update(
        finished_at=timezone.now(),
        heartbeat_at=timezone.now() - datetime.timedelta(hours=1),
    )
    keep = [
        folders.work_dir(f"regrade-7-{first.pk}-r2"),
        folders.work_dir(f"regrade-7-{first.pk}-r2-job"),
        folders.work_dir(f"predictor-{os.getpid()}-a1b2c3"),
    ]
    _age(*keep)

    work_dirs_sweep()

    assert all(p.exists() for p in keep), [p for p in keep if not p.exists()]
    assert Run.objects.get(pk=second.pk).finished_at is None
    for path in keep:
        folders.discard(path)
    Submission.objects.filter(pk=submission.pk).delete()


def test_a_folder_claimed_in_another_pid_namespace_is_left_alone() -> None:
    """The GPU worker's container has pids of its own: its spare, named after a
    pid no process here has, stays for the GPU worker's own sweeper."""
    root = Path(settings.DOJO_WORK_ROOT)
    spare = root / "spare-999999999-a1b2c3"
    spare.mkdir(parents=True)
    claim = {"pid": 999999999, "started": 1, "namespace": "another-boot:4026531836"}
    (root / "spare-999999999-a1b2c3.owner").write_text(
        json.dumps({**claim, "host": "gpu-host"})
    )
    _age(spare)

    work_dirs_sweep()

    assert spare.is_dir()
    folders.discard(spare)


def test_every_worker_sweeps_its_own_namespace_from_its_start(settings) -> None:
    """A worker that starts sweeps the folders its namespace's dead processes
    left, with no beat and no `site` queue (a GPU worker reads neither)."""
    from celery.signals import worker_ready

    settings.DOJO_SWEEP_EVERY_SECONDS = 3600
    orphan = _claimed_by_a_process_that_exited("spare-1-d1e2f3")
    _age(orphan)

    worker_ready.send(sender=None)

    sweeper = next(t for t in threading.enumerate() if t.name == "dojo-sweeper")
    for _ in range(500):
        if not orphan.exists():
            break
        time.sleep(0.01)
    assert not orphan.exists()
    assert sweeper.is_alive(), "it sweeps again every DOJO_SWEEP_EVERY_SECONDS"
