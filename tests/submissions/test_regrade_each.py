"""A batch re-evaluation grades one model at a time, in a real grader sandbox.

A model that runs out of time or memory fails alone and keeps its previous
grade; the others get their new grades as each finishes, and every run of the
chunk keeps beating while it waits.
"""

import datetime

import pytest
from django.core.exceptions import ValidationError

from jobs import spares
from jobs.placement import (
    chunk_max_models,
    chunk_wall_seconds,
    evaluation_folders,
    evaluation_sandbox,
)
from jobs.queues import JobTask
from jobs.spare_policy import SpareKind, slot_spare, spares_discard
from submissions.models import Grade, RegradeBatch, Run, Status, Submission
from submissions.selectors import run_latest_model
from submissions.services.grading import evaluation_inputs
from submissions.services.regrade import regrade_batch_create, regrade_batch_run_chunk
from tests.model_builders import graded_with_model
from workers import sandbox

# Spares start only when nothing waits: each test starts from empty queues.
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("empty_queues"),
]

MODEL_SECONDS = 6


def _chunks(outbox: list[dict]) -> list:
    """Return the regrade chunks sent so far (batch id, submission ids)."""
    return [m["args"] for m in outbox if m["task"] == JobTask.REGRADE_CHUNK]


def _warm_evaluator(submission: Submission) -> sandbox.Spare:
    """Start the slot's warm evaluator for ``submission``'s hidden split, as an
    earlier chunk of the same assignment would have left it (one left by a
    single evaluation is sized for one model, too small for a chunk)."""
    inputs = evaluation_inputs(
        submission=submission, model_run=run_latest_model(submission=submission)
    )
    folders, grader = evaluation_folders(inputs=inputs), evaluation_sandbox()
    key = spares.evaluation_spare_key(folders=folders, kwargs=grader)
    spares.evaluation_spare_refill(
        key=key,
        folders=folders,
        grader=grader,
        longest_seconds=chunk_wall_seconds(models=chunk_max_models()),
    )
    waiting = slot_spare(kind=SpareKind.EVALUATE)
    assert waiting is not None and waiting.alive()
    return waiting


def test_a_slow_or_greedy_model_fails_alone_and_keeps_its_grade(
    participant, workshop, instructor, settings, outbox
):
    """The chunk's first round runs in the slot's warm evaluator: the slow
    model stops that sandbox, and fresh (cold) ones grade the rest, so both
    starts are proven in one chunk (a cold-only variant proved nothing more,
    for 25 s of the suite)."""
    settings.DOJO_EVAL_MODEL_SECONDS = MODEL_SECONDS
    settings.DOJO_EVAL_MEMORY_MB = 2500
    settings.DOJO_EVAL_WALL_SECONDS = 180
    mlp = workshop.assignments.get(slug="mlp")
    kinds = ["good", "slow", "hog", "good"]
    rows = [graded_with_model(participant, mlp, kind) for kind in kinds]
    old = {row.pk: row.current_grade_id for row in rows}

    batch = regrade_batch_create(assignment=mlp, mode="reevaluate")
    assert _chunks(outbox) == [[batch.pk, [row.pk for row in rows]]]
    settings.DOJO_SPARES = True
    spares_discard()
    waiting = _warm_evaluator(rows[0])
    try:
        regrade_batch_run_chunk(
            batch_id=batch.pk, submission_ids=_chunks(outbox)[0][1], worker="w@h"
        )
        # The chunk took it, and left a new one for the next chunk.
        assert not waiting.alive()
        refilled = slot_spare(kind=SpareKind.EVALUATE)
        assert refilled is not None and refilled is not waiting
        assert refilled.alive()
    finally:
        spares_discard()

    rows = [Submission.objects.get(pk=row.pk) for row in rows]
    runs = [row.runs.get(kind=Run.Kind.EVALUATE) for row in rows]
    good1, slow, hog, good2 = rows
    for good in (good1, good2):
        assert good.status in (Status.GRADED, Status.FAILED), good.status_reason
        assert good.current_grade_id != old[good.pk]
        assert good.grades.count() == 2
    for bad in (slow, hog):
        assert bad.status == Status.GRADED, bad.status_reason
        assert bad.current_grade_id == old[bad.pk], "the previous grade stays"
        assert bad.grades.count() == 1
        assert "this grade stays" in bad.status_reason
    assert runs[1].outcome == "timed_out"
    assert runs[2].outcome == "killed_memory"
    assert "memory" in hog.status_reason and "time" in slow.status_reason
    # Results are written as each model finishes, not at the end of the chunk.
    first_new = Grade.objects.get(pk=good1.current_grade_id)
    assert first_new.created_at < runs[1].finished_at
    # The last model waited through the others and its run kept beating.
    waited = datetime.timedelta(seconds=MODEL_SECONDS)
    assert runs[3].heartbeat_at > runs[3].started_at + waited
    batch.refresh_from_db()
    assert batch.state == RegradeBatch.State.DONE


def test_reevaluation_leaves_a_cancelled_rerun_alone(participant, workshop, outbox):
    """A submission whose rerun its participant cancelled keeps its model but is
    not re-evaluated: the batch takes the others and its chunk runs through."""
    from submissions.services.lifecycle import submission_cancel, submission_rerun
    from submissions.services.regrade import regrade_claim

    mlp = workshop.assignments.get(slug="mlp")
    graded = graded_with_model(participant, mlp)
    stopped = graded_with_model(participant, mlp)
    submission_rerun(submission=stopped)
    submission_cancel(submission=Submission.objects.get(pk=stopped.pk))
    assert Submission.objects.get(pk=stopped.pk).status == Status.CANCELLED

    batch = regrade_batch_create(assignment=mlp, mode="reevaluate")
    assert batch.submission_ids == [graded.pk]
    # Even a chunk that names it (an old message, say) does not move it.
    assert regrade_claim(batch=batch, submission_id=stopped.pk, worker="w@h") is None
    assert Submission.objects.get(pk=stopped.pk).status == Status.CANCELLED
    with pytest.raises(ValidationError, match="nothing to regrade"):
        regrade_batch_create(
            assignment=mlp,
            mode="reevaluate",
            selection="selected",
            submission_ids=[stopped.pk],
        )
