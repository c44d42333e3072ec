"""The periodic sweeper retries failed cleanups and removes what no job owns."""

from __future__ import annotations

import datetime
import os
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

pytestmark = pytest.mark.django_db


def _submission(participant, workshop, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        return submission_create(
            participant=participant,
            assignment=workshop.assignments.get(slug="mlp"),
            upload=SimpleUploadedFile("train.py", b"print(1)\n"),
        )


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
    """Dirs of finished, dead or deleted runs go (deep trees too); a running job's
    dir and a fresh unknown folder stay; artifacts of deleted runs and deleted
    submissions go, those of existing runs stay."""
    submission = _submission(participant, workshop, django_capture_on_commit_callbacks)
    kw = {"submission": submission, "queue": "train-cpu", "worker": "w@h"}

    def start(kind: str) -> Run:
        submission.job_token = uuid.uuid4()
        return run_start(kind=kind, **kw)

    live = start(Run.Kind.TRAIN)
    finished = start(Run.Kind.TRAIN)
    finished.finished_at = timezone.now()
    finished.save()
    dead = start(Run.Kind.EVALUATE)
    Run.objects.filter(pk=dead.pk).update(
        heartbeat_at=timezone.now() - datetime.timedelta(hours=1)
    )
    root = Path(settings.DOJO_WORK_ROOT)
    keep = [storage.work_dir(f"run-{live.pk}"), storage.work_dir("fresh-unknown")]
    gone = [
        storage.work_dir(f"run-{finished.pk}"),
        storage.work_dir(f"run-{finished.pk}-job"),
        storage.work_dir(f"eval-{dead.pk}"),
        storage.work_dir(f"regrade-7-{dead.pk}-job"),
        storage.work_dir("run-999999"),
    ]
    _deep(gone[0])
    old_unknown = storage.work_dir(".dojo-stash-old")
    os.utime(old_unknown, (0, 0))
    gone.append(old_unknown)
    artifacts = Path(settings.DOJO_ARTIFACT_ROOT)
    kept_artifact = storage.artifact_dir(submission.pk) / f"run-{finished.pk}"
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
        storage.discard(path)
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


def test_sweeper_keeps_live_predictor_and_regrade_folders(
    participant, workshop, django_capture_on_commit_callbacks
) -> None:
    """Every folder name an owner uses is known: a serving predictor (its process
    alive) and a regrade chunk's rounds (its run alive) stay however old their
    mtime; a dead predictor's and a dead chunk's folders go."""
    submission = _submission(participant, workshop, django_capture_on_commit_callbacks)
    live = run_start(
        submission=submission, kind=Run.Kind.EVALUATE, queue="evaluate", worker="w@h"
    )
    submission.job_token = uuid.uuid4()
    dead = run_start(
        submission=submission, kind=Run.Kind.EVALUATE, queue="evaluate", worker="w@h"
    )
    Run.objects.filter(pk=dead.pk).update(
        heartbeat_at=timezone.now() - datetime.timedelta(hours=1)
    )
    keep = [
        storage.work_dir(f"predictor-{os.getpid()}-a1b2c3"),
        storage.work_dir(f"regrade-7-{live.pk}-r1"),
        storage.work_dir(f"regrade-7-{live.pk}-r2-job"),
    ]
    gone = [
        storage.work_dir("predictor-999999999-a1b2c3"),
        storage.work_dir(f"regrade-7-{dead.pk}-r1"),
    ]
    for path in keep + gone:
        os.utime(path, (0, 0))  # untouched for decades

    work_dirs_sweep()

    assert all(p.exists() for p in keep), [p for p in keep if not p.exists()]
    assert not any(p.exists() for p in gone), [p for p in gone if p.exists()]
    for path in keep:
        storage.discard(path)
    Submission.objects.filter(pk=submission.pk).delete()
