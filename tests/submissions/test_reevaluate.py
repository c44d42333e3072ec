"""A regrade chunk is one job of the one framework: its spec lists every model
it grades, and its grader's ending is read back through that spec
(hand-built endings, stored models; no grader runs)."""

import pytest

from jobs.queues import JobTask
from submissions.models import RegradeBatch, Run, Status, Submission
from submissions.services.regrade import regrade_batch_create, regrade_batch_run_chunk
from tests.fake_grader import ended, grader_that_ends
from tests.model_builders import UNREAD, graded_with_model

pytestmark = pytest.mark.django_db


def _run_chunk(batch: RegradeBatch, outbox: list[dict]) -> None:
    [ids] = [m["args"][1] for m in outbox if m["task"] == JobTask.REGRADE_CHUNK]
    regrade_batch_run_chunk(batch_id=batch.pk, submission_ids=ids, worker="w@h")


def test_a_chunk_whose_ending_the_spec_refuses_takes_no_report_it_left(
    participant, workshop, outbox, monkeypatch, django_capture_on_commit_callbacks
):
    """The grader left every model's report at its end, but its sandbox's log
    is past the spec's limit: none is taken, each model's run ends as the
    platform's fault naming the field, and each keeps its grade. (Reports
    read while the sandbox ran stand: the fake grader writes all at its end.)"""
    mlp = workshop.assignments.get(slug="mlp")
    rows = [graded_with_model(participant, mlp, UNREAD) for _ in range(2)]
    old = {row.pk: row.current_grade_id for row in rows}
    with django_capture_on_commit_callbacks(execute=True):
        batch = regrade_batch_create(assignment=mlp, mode="reevaluate")
    started = grader_that_ends(monkeypatch, ended(log="x" * (2 * 2**20)))
    _run_chunk(batch, outbox)
    assert started == [[str(row.pk) for row in rows]], "one sandbox for the chunk"
    for row in rows:
        row = Submission.objects.get(pk=row.pk)
        assert row.status == Status.GRADED, row.status_reason
        assert row.current_grade_id == old[row.pk]
        assert row.grades.count() == 1
        assert "this grade stays" in row.status_reason
        run = row.runs.get(kind=Run.Kind.EVALUATE)
        assert run.outcome == Run.Outcome.PLATFORM_ERROR
        assert "result.log: is longer than" in run.log
    batch.refresh_from_db()
    assert batch.state == RegradeBatch.State.DONE


def test_a_chunk_whose_ending_the_spec_accepts_takes_each_report(
    participant, workshop, outbox, monkeypatch, django_capture_on_commit_callbacks
):
    """The same chunk with a clean ending: each model gets its new grade."""
    mlp = workshop.assignments.get(slug="mlp")
    rows = [graded_with_model(participant, mlp, UNREAD) for _ in range(2)]
    with django_capture_on_commit_callbacks(execute=True):
        batch = regrade_batch_create(assignment=mlp, mode="reevaluate")
    grader_that_ends(monkeypatch, ended())
    _run_chunk(batch, outbox)
    for row in rows:
        row = Submission.objects.get(pk=row.pk)
        assert row.grades.count() == 2
        assert row.current_grade.score == 99.0
