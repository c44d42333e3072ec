"""Hostile sandbox outputs reach the database clean, and never cost a grade.

Run on SQLite by default and on PostgreSQL in CI, where jsonb and text refuse
NUL characters and jsonb refuses NaN.
"""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from grader import GradeReport
from jobs.outcome import JobOutcome
from submissions.models import Grade, Run, Status, Submission
from submissions.services import jobs
from submissions.services.grading import (
    grade_record,
    history_load,
    report_from_sandbox,
)
from submissions.services.intake import submission_create
from submissions.services.jobs import job_apply, run_record, run_start
from workers import sandbox

pytestmark = pytest.mark.django_db

HOSTILE_REPORT = {
    "id": "1",
    "status": "graded",
    "reason": "",
    "public_accuracy": 0.9,
    "private_accuracy": float("nan"),
    "layers": [
        {
            "name": "dense\x00evil",
            "type": "Dense",
            "output_shape": [None, 10],
            "params": 10,
            "trainable": True,
        }
    ],
    "checks": [{"id": "layers", "passed": True, "message": "fine\x00"}],
    "score": 100.0,
    "grader_version": "1.0.0\x00",
    "spec_version": "1",
}


@pytest.fixture
def evaluating(participant, workshop) -> Submission:
    submission = submission_create(
        participant=participant,
        assignment=workshop.assignments.get(slug="mlp"),
        upload=SimpleUploadedFile("train.py", b"print(1)\n"),
    )
    Submission.objects.filter(pk=submission.pk).update(status=Status.EVALUATING)
    submission.refresh_from_db()
    return submission


@pytest.mark.parametrize(
    "history",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"loss": [NaN, 1.0]}',
        b'{"lo\\u0000ss": [1.0]}',
        b'{"loss": ["\\u0000"]}',
    ],
)
def test_a_bad_history_is_left_out_with_a_note_and_the_grade_kept(
    evaluating, tmp_path, history
):
    path = tmp_path / "history.json"
    path.write_bytes(history)
    curve, note = history_load(path=str(path))
    grade = grade_record(
        submission=evaluating,
        run=None,
        report=report_from_sandbox(HOSTILE_REPORT),
        history=curve,
        history_note=note,
    )
    evaluating.refresh_from_db()
    assert evaluating.status == Status.GRADED
    assert evaluating.current_grade == grade
    stored = Grade.objects.get(pk=grade.pk)
    assert stored.score == 100.0
    assert "history" not in stored.report
    assert "training curves are not shown" in stored.report["history_note"]
    assert stored.report["layers"][0]["name"] == "denseevil"
    assert stored.private_accuracy is None


def test_a_good_history_is_stored_beside_the_grade(evaluating, tmp_path):
    path = tmp_path / "history.json"
    path.write_text(json.dumps({"loss": [1.0, 0.5]}))
    curve, note = history_load(path=str(path))
    grade = grade_record(
        submission=evaluating,
        run=None,
        report=report_from_sandbox(HOSTILE_REPORT),
        history=curve,
        history_note=note,
    )
    stored = Grade.objects.get(pk=grade.pk)
    assert stored.report["history"] == {"loss": [1.0, 0.5]}
    assert "history_note" not in stored.report


def test_a_log_with_nul_characters_is_stored(evaluating):
    run = run_start(
        submission=evaluating, kind=Run.Kind.EVALUATE, queue="evaluate", worker="w@h"
    )
    result = sandbox.SandboxResult(
        outcome=sandbox.Outcome.OK,
        exit_code=0,
        wall_seconds=1.0,
        cpu_seconds=1.0,
        peak_memory_bytes=None,
        log="before\x00after",
        log_truncated=False,
        backend="local",
    )
    run_record(run=run, result=result)
    assert Run.objects.get(pk=run.pk).log == "before\u2400after"


def test_a_result_that_cannot_be_applied_ends_error_not_stuck(evaluating, monkeypatch):
    """The issue's stuck case: applying the result raises after the run ended."""
    run = run_start(
        submission=evaluating, kind=Run.Kind.EVALUATE, queue="evaluate", worker="w@h"
    )
    Run.objects.filter(pk=run.pk).update(finished_at=timezone.now())

    def explode(**kwargs) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(jobs, "grade_record", explode)
    report = GradeReport(status="graded", public_accuracy=0.9)
    job_apply(run=run, outcome=JobOutcome.graded(report=report))
    evaluating.refresh_from_db()
    assert evaluating.status == Status.ERROR
    assert "maximum recursion depth" in evaluating.status_reason
    assert "not your fault" in evaluating.status_reason
