"""Every active submission has a live run or a message due; the reconciler repairs
every other state within the grace, and ends it `error` once attempts run out."""

import datetime
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from jobs.reconcile import jobs_reconcile as submissions_reconcile
from submissions.models import ACTIVE_STATUSES, Run, Status, Submission
from submissions.services.intake import submission_create, submissions_used_today
from submissions.services.reconcile import submission_health

GRACE = 60
LONG_AGO = datetime.timedelta(seconds=10 * GRACE)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def short_limits(settings):
    settings.DOJO_HEARTBEAT_GRACE_SECONDS = GRACE
    settings.DOJO_REQUEUE_AFTER_SECONDS = GRACE
    settings.DOJO_MAX_ATTEMPTS = 2


@pytest.fixture
def sent(outbox) -> list[dict]:
    """Record each message that would leave for the broker, with its task."""
    return outbox


@pytest.fixture
def submission(participant, workshop, sent) -> Submission:
    created = submission_create(
        participant=participant,
        assignment=workshop.assignments.get(slug="mlp"),
        upload=SimpleUploadedFile("train.py", b"print('hi')\n"),
    )
    sent.clear()
    created.refresh_from_db()
    return created


def _set(submission: Submission, **fields) -> Submission:
    Submission.objects.filter(pk=submission.pk).update(**fields)
    submission.refresh_from_db()
    return submission


def _run(submission: Submission, kind: str, **fields) -> Run:
    return Run.objects.create(
        submission=submission,
        kind=kind,
        job_token=submission.job_token,
        queue="evaluate" if kind == Run.Kind.EVALUATE else "train-cpu",
        worker="gone@host",
        **fields,
    )


def _assert_invariant_holds() -> None:
    now = timezone.now()
    for row in Submission.objects.filter(status__in=ACTIVE_STATUSES):
        health = submission_health(submission=row, now=now)
        assert health.state in ("live", "due"), (row, health)


def _reconciled(submission: Submission) -> Submission:
    submissions_reconcile()
    _assert_invariant_holds()
    return Submission.objects.get(pk=submission.pk)


def test_received_never_queued_is_queued(submission, sent):
    """The broker was down at upload: the row is queued and its message sent."""
    _set(submission, status=Status.RECEIVED, created_at=timezone.now() - LONG_AGO)
    after = _reconciled(submission)
    assert after.status == Status.QUEUED
    assert [m["task"] for m in sent] == ["submissions.tasks.train"]


def test_queued_without_any_send_time_is_sent(submission, sent):
    _set(submission, status=Status.QUEUED, enqueued_at=None)
    after = _reconciled(submission)
    assert after.status == Status.QUEUED and after.enqueued_at is not None
    assert sent[0]["args"] == [submission.pk, str(submission.job_token)]


def test_queued_message_overdue_is_resent_with_the_same_token(submission, sent):
    _set(submission, enqueued_at=timezone.now() - LONG_AGO, sends=1)
    after = _reconciled(submission)
    assert after.job_token == submission.job_token
    assert after.sends == 2
    assert sent[0]["args"] == [submission.pk, str(submission.job_token)]


def test_queued_message_not_yet_due_is_left_alone(submission, sent):
    """A message waiting within its backoff satisfies the invariant."""
    assert submission_health(submission=submission, now=timezone.now()).state == "due"
    after = _reconciled(submission)
    assert after.enqueued_at == submission.enqueued_at and sent == []


def test_training_without_a_run_is_requeued(submission, sent):
    """Nothing can claim a `training` row without a run: it goes back to queued."""
    _set(submission, status=Status.TRAINING)
    after = _reconciled(submission)
    assert after.status == Status.QUEUED
    assert after.job_token != submission.job_token
    assert [m["task"] for m in sent] == ["submissions.tasks.train"]


def test_training_with_a_live_run_is_left_alone(submission, sent):
    _set(submission, status=Status.TRAINING, attempts=1)
    _run(submission, Run.Kind.TRAIN)
    after = _reconciled(submission)
    assert after.status == Status.TRAINING and sent == []


def test_training_run_without_heartbeat_is_ended_and_requeued(submission, sent):
    _set(submission, status=Status.TRAINING, attempts=1)
    run = _run(submission, Run.Kind.TRAIN, heartbeat_at=timezone.now() - LONG_AGO)
    after = _reconciled(submission)
    run.refresh_from_db()
    assert run.outcome == Run.Outcome.WORKER_LOST and run.finished_at
    assert after.status == Status.QUEUED
    assert [m["task"] for m in sent] == ["submissions.tasks.train"]


def test_training_run_finished_but_never_applied_is_requeued(submission, sent):
    _set(submission, status=Status.TRAINING, attempts=1)
    _run(submission, Run.Kind.TRAIN, finished_at=timezone.now() - LONG_AGO)
    after = _reconciled(submission)
    assert after.status == Status.QUEUED
    assert [m["task"] for m in sent] == ["submissions.tasks.train"]


def test_finished_evaluation_still_evaluating_is_evaluated_again(submission, sent):
    """The case from the issue: the run ended, applying its result raised."""
    _set(submission, status=Status.EVALUATING, attempts=1)
    run = _run(
        submission,
        Run.Kind.EVALUATE,
        finished_at=timezone.now() - LONG_AGO,
        outcome=Run.Outcome.OK,
    )
    after = _reconciled(submission)
    run.refresh_from_db()
    assert run.outcome == Run.Outcome.OK, "a finished run keeps its outcome"
    assert after.status == Status.EVALUATING
    assert after.job_token != run.job_token
    assert [m["task"] for m in sent] == ["submissions.tasks.evaluate"]


def test_finished_evaluation_out_of_attempts_ends_error_and_is_refunded(
    submission, sent, participant
):
    _set(submission, status=Status.EVALUATING, attempts=2)
    _run(submission, Run.Kind.EVALUATE, finished_at=timezone.now() - LONG_AGO)
    after = _reconciled(submission)
    assert after.status == Status.ERROR
    assert "never applied" in after.status_reason
    assert "not your fault" in after.status_reason
    assert sent == []
    used = submissions_used_today(participant=participant, assignment=after.assignment)
    assert used == 0, "a platform error does not count against the daily limit"


def test_lost_worker_out_of_attempts_ends_error(submission, sent):
    _set(submission, status=Status.TRAINING, attempts=2)
    _run(submission, Run.Kind.TRAIN, heartbeat_at=timezone.now() - LONG_AGO)
    after = _reconciled(submission)
    assert after.status == Status.ERROR
    assert "platform's fault" in after.status_reason


def test_evaluation_waiting_with_a_lost_message_is_resent(submission, sent):
    _set(
        submission,
        status=Status.EVALUATING,
        enqueued_at=timezone.now() - LONG_AGO,
        sends=0,
    )
    after = _reconciled(submission)
    assert after.status == Status.EVALUATING
    assert sent[0]["task"] == "submissions.tasks.evaluate"
    assert sent[0]["args"] == [submission.pk, str(submission.job_token)]


def test_dead_run_of_a_cancelled_submission_ends_cancelled(submission, sent):
    _set(submission, status=Status.TRAINING, attempts=1, cancel_requested=True)
    _run(submission, Run.Kind.TRAIN, heartbeat_at=timezone.now() - LONG_AGO)
    assert _reconciled(submission).status == Status.CANCELLED
    assert sent == []


def test_one_row_that_cannot_be_repaired_does_not_stop_the_others(
    submission, other_participant, workshop, sent, monkeypatch
):
    """A repair that raises is logged and retried next pass; the rest go on."""
    from jobs import reconcile

    second = submission_create(
        participant=other_participant,
        assignment=workshop.assignments.get(slug="mlp"),
        upload=SimpleUploadedFile("again.py", b"print('hi')\n"),
    )
    sent.clear()
    for row in (submission, second):
        _set(row, status=Status.QUEUED, enqueued_at=None, job_token=uuid.uuid4())
    real = reconcile._repair

    def flaky(kind, row, now):
        if row.pk == submission.pk:
            raise RuntimeError("boom")
        return real(kind, row, now)

    monkeypatch.setattr(reconcile, "_repair", flaky)
    counts = submissions_reconcile()
    assert counts["failed"] == 1 and counts["resent"] == 1
    second.refresh_from_db()
    assert second.enqueued_at is not None


def test_a_held_submission_is_due_and_sent_when_its_turn_comes(
    submission, participant, workshop, sent
):
    """A participant's later submission waits in the database (fair share): the
    reconciler counts it as due, and sends it once the earlier one is done."""
    later = submission_create(
        participant=participant,
        assignment=workshop.assignments.get(slug="mlp"),
        upload=SimpleUploadedFile("again.py", b"print('hi')\n"),
    )
    later.refresh_from_db()
    assert later.status == Status.QUEUED and later.enqueued_at is None
    assert sent == []
    later_on = timezone.now() + LONG_AGO
    assert submission_health(submission=later, now=later_on).state == "due"
    _set(submission, status=Status.FAILED)
    submissions_reconcile()
    later.refresh_from_db()
    assert later.enqueued_at is not None
    assert [m["args"][0] for m in sent] == [later.pk]
