"""Training in a warm spare: taken only by a job of the same kind, never shared.

Real sandboxes, the real training service; spares are on for these tests only.
"""

from __future__ import annotations

import uuid

import pytest

from jobs.spare_policy import (
    SpareKind,
    slot_spare,
    spare_policy_serve,
    spare_pool,
    spare_refill,
    spare_take,
    spares_discard,
    spares_keep,
)
from submissions.models import Run, Status, Submission
from tests.helpers import wait_for
from tests.model_builders import evaluating_with_model, trained_here
from workers import sandbox
from workshops import folders

# Spares start only when nothing waits: each test starts from empty queues.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_queues")]

# Leaves a mark in every place it may write; prints what it finds of others'.
CODE = r"""
import os, sys
found = []
for place in ("/tmp", "/dev/shm", os.environ["DOJO_OUTPUT_DIR"], os.getcwd()):
    found += [n for n in os.listdir(place) if n.startswith("mark-")]
    open(os.path.join(place, "mark-" + sys.argv[0].replace("/", "_")), "w").close()
print("WARM" if "keras" in sys.modules else "COLD", "FOUND", sorted(found))
"""


@pytest.fixture
def spares_on(settings):
    settings.DOJO_SPARES = True
    settings.DOJO_CHECK_SPARES = True
    spares_discard()
    yield
    spares_discard()
    spare_policy_serve(queues=())


@pytest.fixture
def train(participant, workshop, django_capture_on_commit_callbacks, spares_on):
    mlp = workshop.assignments.get(slug="mlp")

    def _train(code: str = CODE, **assignment_fields) -> Run:
        for field, value in assignment_fields.items():
            setattr(mlp, field, value)
        mlp.save()
        submission = trained_here(
            participant=participant,
            assignment=mlp,
            code=code,
            capture=django_capture_on_commit_callbacks,
        )
        return submission.runs.get(kind=Run.Kind.TRAIN)

    return _train


def test_next_job_takes_the_warm_spare_and_finds_nothing_of_the_last(train) -> None:
    """The second job runs in the spare (Keras imported) and sees no marks."""
    first = train()
    assert not first.isolation.startswith("warm spare"), first.isolation
    assert "COLD FOUND []" in first.log, first.log
    waiting = slot_spare(kind=SpareKind.TRAIN)
    assert waiting is not None and waiting.alive()
    # A training never waits for a spare still warming (it would run cold).
    wait_for(waiting.ready, timeout=300, what="the spare to be warm")
    second = train()
    assert second.isolation.startswith("warm spare"), second.isolation
    assert "WARM FOUND []" in second.log, second.log
    assert not waiting.alive()
    # Its own replacement waits for the next job; it was never reused.
    replacement = slot_spare(kind=SpareKind.TRAIN)
    assert replacement is not None and replacement is not waiting


def test_a_spare_for_other_limits_is_discarded_and_the_job_runs_cold(train) -> None:
    """A changed assignment limit changes what a job sees: the spare is not used."""
    train()
    waiting = slot_spare(kind=SpareKind.TRAIN)
    assert waiting is not None
    other = train(wall_seconds=333)
    assert not other.isolation.startswith("warm spare"), other.isolation
    assert "COLD FOUND []" in other.log, other.log
    assert not waiting.alive()


def test_evaluation_takes_the_warm_evaluator_of_the_slot(
    participant, workshop, spares_on
) -> None:
    """The second grading runs in the evaluator started after the first (the
    models are stored ones: the training is not the point here)."""
    from submissions.services.execution import submission_evaluate

    mlp = workshop.assignments.get(slug="mlp")

    def evaluate(submission: Submission) -> Submission:
        assert submission.status == Status.EVALUATING, submission.status_reason
        submission_evaluate(
            submission_id=submission.pk,
            job_token=str(submission.job_token),
            worker="test@host",
        )
        submission.refresh_from_db()
        return submission

    first = evaluate(evaluating_with_model(participant, mlp))
    assert first.status == Status.GRADED, first.status_reason
    waiting = slot_spare(kind=SpareKind.EVALUATE)
    assert waiting is not None and waiting.alive()
    second = evaluate(evaluating_with_model(participant, mlp))
    assert second.status == Status.GRADED, second.status_reason
    assert not waiting.alive()
    assert slot_spare(kind=SpareKind.EVALUATE) is not waiting


@pytest.fixture
def queued():
    """Put real messages on the run's broker; purge the queues they went to."""
    from config.celery_app import app
    from jobs.outbox import broker_send

    used: set[str] = set()

    def put(queue: str) -> None:
        used.add(queue)
        broker_send("workers.tasks.nothing", [0], queue)

    def purge() -> None:
        with app.connection_for_write() as conn:
            for name in used:
                conn.default_channel.queue_purge(name)

    put.purge = purge
    yield put
    purge()


def test_with_work_queued_finishing_a_job_starts_no_spare(train, queued) -> None:
    """Under a backlog the next job starts cold: no spare competes with it."""
    queued("train-cpu")
    run = train()
    assert "COLD FOUND []" in run.log, run.log
    assert slot_spare(kind=SpareKind.TRAIN) is None


def test_with_nothing_queued_finishing_a_job_starts_a_spare(train) -> None:
    """Idle capacity: the slot's next job of the assignment will start warm."""
    train()
    waiting = slot_spare(kind=SpareKind.TRAIN)
    assert waiting is not None and waiting.alive()


def _spare(name: str, prelude: str = "") -> sandbox.Spare:
    """Start a real spare that warms forever with ``prelude="while 1: pass"``."""
    work = folders.work_dir(f"{name}-{uuid.uuid4().hex[:8]}")
    return sandbox.Spare(
        ["python", "-c", "pass"],
        work_dir=work,
        warm=(),
        prelude=prelude,
        key=name,
        owned=(work,),
    )


def _warming(kind: SpareKind, key: str, queue: str) -> sandbox.Spare | None:
    """Start a spare of ``kind`` that never finishes warming; return the slot's."""
    assert spare_refill(
        kind=kind,
        key=key,
        start=lambda: _spare(key, "while 1: pass"),
        queue=queue,
    )
    return slot_spare(kind=kind)


def test_a_spare_still_warming_is_abandoned_when_work_arrives(
    spares_on, queued
) -> None:
    """The keeper kills a warming spare once a job waits; nothing waiting, it stays."""
    spare_policy_serve(queues=["train-cpu", "evaluate"])  # as a worker's start does
    warming = _warming(SpareKind.TRAIN, "slow", "train-cpu")
    assert warming is not None
    spares_keep()
    assert warming.alive() and slot_spare(kind=SpareKind.TRAIN) is warming
    queued("evaluate")  # the same worker serves it: work is waiting
    spares_keep()
    assert not warming.alive()
    assert slot_spare(kind=SpareKind.TRAIN) is None


def test_a_job_of_another_kind_abandons_the_slots_warming_spare(spares_on) -> None:
    """An evaluation starting in the slot frees the CPU a training spare warms on."""
    warming = _warming(SpareKind.TRAIN, "slow", "train-cpu")
    assert warming is not None and warming.alive()
    assert spare_take(kind=SpareKind.EVALUATE, key="other") is None
    assert not warming.alive()


def test_participant_code_never_waits_for_its_spare_still_warming(spares_on) -> None:
    """A training (or a check's) finding its own spare still warming runs cold:
    the spare is killed, as a script that stops at once would wait for nothing.
    A grading job keeps its warming evaluator: the grader imports Keras anyway."""
    for kind in (SpareKind.TRAIN, SpareKind.CHECK_TRAIN):
        warming = _warming(kind, "slow", "train-cpu")
        assert warming is not None and warming.alive()
        assert spare_take(kind=kind, key="slow") is None
        assert not warming.alive()
    grading = _warming(SpareKind.EVALUATE, "grade", "evaluate")
    assert spare_take(kind=SpareKind.EVALUATE, key="grade") is grading
    grading.discard()


def test_every_kind_of_spare_ages_by_the_one_setting(settings, spares_on) -> None:
    """Check spares too: DOJO_SPARE_MAX_AGE_SECONDS, no age of their own."""
    settings.DOJO_SPARE_MAX_AGE_SECONDS = 123
    spares_discard()
    for kind in SpareKind:
        assert spare_pool(kind=kind).max_age == 123


def test_a_checks_grading_spare_outlives_the_start_of_its_own_check(
    spares_on,
) -> None:
    """A check takes its training spare first: its grading spare stays for it."""
    warming = _warming(SpareKind.CHECK_GRADE, "grade", "check")
    assert warming is not None
    spare_take(kind=SpareKind.CHECK_TRAIN, key="other")
    assert warming.alive() and slot_spare(kind=SpareKind.CHECK_GRADE) is warming


def test_a_spare_refused_under_a_backlog_starts_once_nothing_waits(
    spares_on, queued
) -> None:
    """The slot's keeper starts the spare the last job wanted when the queue drains."""
    queued("train-cpu")
    spare_policy_serve(queues=["train-cpu"])
    assert not spare_refill(
        kind=SpareKind.TRAIN, key="later", start=lambda: _spare("later"), queue="x"
    )
    spares_keep()
    assert slot_spare(kind=SpareKind.TRAIN) is None
    queued.purge()
    spares_keep()
    started = slot_spare(kind=SpareKind.TRAIN)
    assert started is not None and started.key == "later" and started.alive()
