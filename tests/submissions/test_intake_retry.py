"""A submission whose commit PostgreSQL aborts as a deadlock is tried again."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError

from submissions.models import Submission
from submissions.services import intake
from submissions.services.intake import submission_create

pytestmark = pytest.mark.django_db(transaction=True)


class Deadlock(Exception):
    sqlstate = "40P01"


def _abort_first_save(monkeypatch, error: Exception) -> list[int]:
    """Make the first standings refresh (inside the submit transaction) fail."""
    from submissions.services import intake

    real = intake.standing_refresh
    calls: list[int] = []

    def refresh(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise error
        return real(**kwargs)

    monkeypatch.setattr(intake, "standing_refresh", refresh)
    return calls


def _media_files() -> list[Path]:
    media = Path(Submission.file.field.storage.location) / "submissions"
    return [p for p in media.rglob("*") if p.is_file()] if media.exists() else []


def test_a_deadlocked_submit_is_retried_and_keeps_one_file(
    participant, workshop, monkeypatch
):
    error = OperationalError("deadlock detected")
    error.__cause__ = Deadlock()
    calls = _abort_first_save(monkeypatch, error)
    before = _media_files()
    retries = intake.COMMIT_RETRIES["count"]
    submission = submission_create(
        participant=participant,
        assignment=workshop.assignments.get(slug="mlp"),
        upload=SimpleUploadedFile("train.py", b"print('hi')\n"),
    )
    assert len(calls) >= 2
    assert intake.COMMIT_RETRIES["count"] == retries + 1, "the retry is counted"
    assert Submission.objects.count() == 1
    new_files = sorted(set(_media_files()) - set(before))
    assert new_files == [Path(submission.file.path)], "the aborted try left a file"


def test_another_database_error_is_not_retried_and_leaves_nothing(
    participant, workshop, monkeypatch
):
    _abort_first_save(monkeypatch, OperationalError("disk I/O error"))
    before = _media_files()
    with pytest.raises(OperationalError):
        submission_create(
            participant=participant,
            assignment=workshop.assignments.get(slug="mlp"),
            upload=SimpleUploadedFile("train.py", b"print('hi')\n"),
        )
    assert Submission.objects.count() == 0
    assert _media_files() == before


def test_a_result_whose_commit_deadlocks_is_applied_on_a_retry(
    participant, workshop, monkeypatch, outbox
):
    """A deadlock while applying a result must not turn it into a refund.

    The training's message stays in the outbox: a suite's shared worker,
    left running by an earlier end-to-end test in this process, would
    otherwise claim the job before this test starts its run."""
    from jobs.outcome import JobOutcome
    from submissions.models import Run, Status
    from submissions.services import jobs
    from submissions.services.jobs import job_apply, run_start

    submission = submission_create(
        participant=participant,
        assignment=workshop.assignments.get(slug="mlp"),
        upload=SimpleUploadedFile("train.py", b"print('hi')\n"),
    )
    Submission.objects.filter(pk=submission.pk).update(status=Status.TRAINING)
    submission.refresh_from_db()
    run = run_start(submission=submission, kind=Run.Kind.TRAIN, queue="q", worker="w")
    tries: list[int] = []

    move = jobs.submission_move

    def deadlock_once(**kwargs) -> None:
        tries.append(1)
        if len(tries) == 1:
            error = OperationalError("deadlock detected")
            error.__cause__ = Deadlock()
            raise error
        move(**kwargs)

    monkeypatch.setattr(jobs, "submission_move", deadlock_once)
    job_apply(run=run, outcome=JobOutcome.failed(reason="Your bug."))
    submission.refresh_from_db()
    assert len(tries) == 2
    assert (submission.status, submission.status_reason) == (Status.FAILED, "Your bug.")
