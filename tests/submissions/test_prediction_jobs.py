"""Try your model as a kind of job: each question is a prediction row, queued
on commit, claimed once with its token, answered through the applier the kind
`predict` registered, ended by the one reconciler when nobody will answer it,
and swept once its answer has been read.

In-process: the outbox records messages, the worker's task is called directly
and its warm predictor is a hand-built stand-in (the sandboxed predictor is
proven in tests/workers/test_predictor.py and tests/e2e/test_predict.py).
"""

from __future__ import annotations

import base64
import datetime
import uuid

import pytest
from django.utils import timezone

from jobs.apply import job_apply
from jobs.outcome import JobOutcome
from jobs.reconcile import jobs_hand_back, jobs_reconcile
from submissions import prediction_worker, predictions, tasks
from submissions.prediction_jobs import (
    ANSWER_KEPT_SECONDS,
    PREDICT,
    STOPPED,
    TIMED_OUT,
    PredictionJob,
    prediction_claim,
)
from submissions.prediction_rows import (
    ANSWER_MAX_BYTES,
    Prediction,
    PredictionKind,
    PredictionStatus,
)
from tests.model_builders import graded_with_model
from workers.predictor_replies import PredictorBusy, PredictorError

pytestmark = pytest.mark.django_db

PIXELS = base64.b64encode(bytes(28 * 28)).decode()
WORKER = "predict1@cpu-box-3"


@pytest.fixture
def graded(participant, workshop, settings):
    settings.DOJO_PREDICT_TIMEOUT_SECONDS = 60
    return graded_with_model(participant, workshop.assignments.get(slug="mlp"))


def _ask(submission, user, capture) -> Prediction:
    """Ask about one image through the service; its message leaves on commit."""
    with capture(execute=True):
        ticket = predictions.prediction_request(
            submission=submission, user_id=user.pk, pixels=PIXELS
        )
    return Prediction.objects.get(pk=int(ticket["id"]))


@pytest.fixture
def asked(graded, participant, outbox, django_capture_on_commit_callbacks):
    return _ask(graded, participant, django_capture_on_commit_callbacks)


def _claim(prediction: Prediction, *, token: str | None = None) -> Prediction | None:
    return prediction_claim(
        prediction_id=prediction.pk,
        job_token=token or str(prediction.job_token),
        worker=WORKER,
    )


def _apply(prediction: Prediction, outcome: JobOutcome) -> None:
    job = PredictionJob(pk=prediction.pk, token=prediction.job_token)
    job_apply(kind=PREDICT, job=job, outcome=outcome)


def _poll(submission, user, prediction: Prediction) -> dict:
    return predictions.prediction_poll(
        submission=submission, user_id=user.pk, request_id=str(prediction.pk)
    )


def _refusal(submission, user, prediction: Prediction):
    with pytest.raises(predictions.PredictionUnavailable) as refused:
        _poll(submission, user, prediction)
    return refused.value


def test_a_question_is_a_queued_row_whose_message_leaves_on_commit(
    graded, participant, outbox, django_capture_on_commit_callbacks
):
    """The row holds what was asked and its window; the message carries only
    the row's id and job token, and leaves once the row is committed."""
    with django_capture_on_commit_callbacks() as callbacks:
        ticket = predictions.prediction_request(
            submission=graded, user_id=participant.pk, pixels=PIXELS
        )
        assert outbox == [], "nothing leaves before the row is committed"
    prediction = Prediction.objects.get(pk=int(ticket["id"]))
    assert ticket == {"id": str(prediction.pk), "status": "pending"}
    assert prediction.status == PredictionStatus.QUEUED
    assert prediction.kind == PredictionKind.PREDICT and prediction.asked == PIXELS
    assert prediction.expires_at - prediction.created_at == datetime.timedelta(
        seconds=60
    )
    for callback in callbacks:
        callback()
    (message,) = outbox
    assert message["task"] == "submissions.tasks.predict"
    assert message["queue"] == "predict"
    assert message["args"] == [prediction.pk, str(prediction.job_token)]
    assert message["expires"] == prediction.expires_at


def test_a_prediction_is_claimed_once_and_only_with_its_token(asked):
    assert _claim(asked, token=str(uuid.uuid4())) is None, "a stale message"
    claimed = _claim(asked)
    assert claimed is not None
    assert claimed.status == PredictionStatus.RUNNING and claimed.attempts == 1
    assert claimed.worker == WORKER and claimed.started_at is not None
    assert claimed.heartbeat_at == claimed.started_at
    assert _claim(asked) is None, "a duplicate message finds it running"
    asked.refresh_from_db()
    assert asked.attempts == 1


def test_a_message_arriving_after_the_window_claims_nothing(asked):
    """The asker was told to try again: a late worker does not start it."""
    late = timezone.now() - datetime.timedelta(seconds=1)
    Prediction.objects.filter(pk=asked.pk).update(expires_at=late)
    assert _claim(asked) is None
    asked.refresh_from_db()
    assert asked.status == PredictionStatus.QUEUED and asked.attempts == 0


class _Predicting:
    """The warm predictor's checked answer, hand-built."""

    def __init__(self, top: list[tuple[int, float]]) -> None:
        self.top = top
        self.asked: list[dict] = []

    def predict(self, **asked) -> list[tuple[int, float]]:
        self.asked.append(asked)
        return self.top


def test_the_workers_answer_is_applied_to_the_row_and_polled_in_one_query(
    asked, graded, participant, outbox, monkeypatch, django_assert_num_queries
):
    fake = _Predicting([(9, 0.75), (7, 0.25)])
    monkeypatch.setattr(prediction_worker, "_warm_predictor", lambda: fake)
    with django_assert_num_queries(1):
        assert _poll(graded, participant, asked) == {"status": "pending"}
    (message,) = outbox
    tasks.predict(*message["args"])
    (seen,) = fake.asked
    assert seen["pixels"] == PIXELS and seen["key"].startswith("run-")
    asked.refresh_from_db()
    assert asked.status == PredictionStatus.ANSWERED and asked.reason == ""
    assert asked.answer == {"top": [[9, 0.75], [7, 0.25]]}
    assert asked.finished_at is not None and asked.heartbeat_at == asked.finished_at
    names = graded.assignment.spec["class_names"]
    with django_assert_num_queries(1):
        answer = _poll(graded, participant, asked)
    assert answer == {
        "status": "done",
        "top": [
            {"label": names[9], "probability": 0.75},
            {"label": names[7], "probability": 0.25},
        ],
    }
    tasks.predict(*message["args"])
    assert len(fake.asked) == 1, "a duplicate message asks nothing"


class _Refusing:
    """A warm predictor that raises what the real one raises."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def predict(self, **asked) -> list[tuple[int, float]]:
        raise self.error


@pytest.mark.parametrize(
    ("error", "status", "code", "reason"),
    [
        # The model's doing: it counts as the participant's, with its reason.
        (
            PredictorError("Your model takes too long to load."),
            PredictionStatus.FAILED,
            422,
            "Your model takes too long to load.",
        ),
        # The predictor restarted, busy or too slow: the platform's, try again.
        (
            PredictorBusy("The predictor did not answer in time."),
            PredictionStatus.ERROR,
            503,
            "try again in a few seconds",
        ),
    ],
)
def test_the_predictors_refusal_is_the_models_and_its_busy_is_the_platforms(
    asked, graded, participant, outbox, monkeypatch, error, status, code, reason
):
    monkeypatch.setattr(prediction_worker, "_warm_predictor", lambda: _Refusing(error))
    (message,) = outbox
    tasks.predict(*message["args"])
    asked.refresh_from_db()
    assert asked.status == status
    refused = _refusal(graded, participant, asked)
    assert refused.status == code and reason in str(refused)


@pytest.mark.parametrize(
    ("outcome", "status", "code", "reason"),
    [
        (
            JobOutcome.failed(reason="Your model takes too long to load."),
            PredictionStatus.FAILED,
            422,
            "Your model takes too long to load.",
        ),
        (
            JobOutcome.error(detail="No space left on device"),
            PredictionStatus.ERROR,
            503,
            "The predictor could not answer (No space left on device).",
        ),
        # Not a prediction's way to end: applied as the platform's fault.
        (
            JobOutcome.passed(result={}),
            PredictionStatus.ERROR,
            503,
            "its result was unusable",
        ),
    ],
)
def test_how_a_prediction_ended_is_what_the_poll_says(
    asked, graded, participant, outcome, status, code, reason
):
    _apply(_claim(asked), outcome)
    asked.refresh_from_db()
    assert asked.status == status and asked.answer == {}
    refused = _refusal(graded, participant, asked)
    assert refused.status == code and reason in str(refused)


@pytest.mark.parametrize(
    "answer",
    [
        {"top": [[1, float("nan")]]},
        {"top": [[1, 0.5]], "script": "<script>alert(1)</script>"},
        {"size": [2, 2], "maps": ["AAAAAA=="]},  # another kind's answer
        {"top": [[1, 0.5]] * (ANSWER_MAX_BYTES // 8)},
        "top",
    ],
    ids=["nan", "extra-key", "other-kind", "oversized", "not-an-object"],
)
def test_a_hostile_or_oversized_answer_is_refused_and_nothing_stored(
    asked, graded, participant, answer
):
    _apply(_claim(asked), JobOutcome.answered(result=answer))
    asked.refresh_from_db()
    assert asked.status == PredictionStatus.ERROR and asked.answer == {}
    assert "its result was unusable" in asked.reason
    assert _refusal(graded, participant, asked).status == 503


def test_an_answer_after_the_prediction_was_given_up_is_not_applied(asked):
    claimed = _claim(asked)
    assert jobs_hand_back(worker=WORKER) == 1
    _apply(claimed, JobOutcome.answered(result={"top": [[1, 0.5]]}))
    asked.refresh_from_db()
    assert asked.status == PredictionStatus.ERROR and asked.answer == {}


def test_a_dead_workers_prediction_ends_with_try_again_and_is_never_resent(
    graded, participant, outbox, settings, django_capture_on_commit_callbacks
):
    """Claimed by a worker that died (no heartbeat for the grace, its window
    over): ended `error` with a reason that says to try again, never run
    again. One whose worker beats, and one inside its window (a predictor
    starting cold), are left alone."""
    settings.DOJO_PREDICT_WAITING_PER_USER = 5
    dead, live, cold = (
        _ask(graded, participant, django_capture_on_commit_callbacks) for _ in range(3)
    )
    for prediction in (dead, live, cold):
        _claim(prediction)
    now = timezone.now()
    old = now - datetime.timedelta(seconds=settings.DOJO_HEARTBEAT_GRACE_SECONDS + 5)
    Prediction.objects.filter(pk=dead.pk).update(heartbeat_at=old, expires_at=old)
    Prediction.objects.filter(pk=live.pk).update(expires_at=old)
    Prediction.objects.filter(pk=cold.pk).update(heartbeat_at=old)
    sent = len(outbox)
    counts = jobs_reconcile()
    assert counts["errored"] == 1 and counts["requeued"] == counts["resent"] == 0
    dead.refresh_from_db()
    assert dead.status == PredictionStatus.ERROR and dead.reason == STOPPED
    assert dead.finished_at is not None and dead.attempts == 1
    refused = _refusal(graded, participant, dead)
    assert refused.status == 503 and "try again" in str(refused)
    for prediction in (live, cold):
        prediction.refresh_from_db()
        assert prediction.status == PredictionStatus.RUNNING
    assert len(outbox) == sent, "a prediction is never sent again"


def test_a_prediction_never_claimed_in_its_window_ends_timed_out(
    asked, graded, participant, outbox
):
    assert jobs_reconcile()["errored"] == 0, "inside its window it waits"
    over = timezone.now() - datetime.timedelta(seconds=1)
    Prediction.objects.filter(pk=asked.pk).update(expires_at=over)
    sent = len(outbox)
    assert jobs_reconcile()["errored"] == 1
    asked.refresh_from_db()
    assert asked.status == PredictionStatus.ERROR and asked.reason == TIMED_OUT
    assert len(outbox) == sent
    refused = _refusal(graded, participant, asked)
    assert refused.status == 503 and str(refused) == TIMED_OUT


def test_a_stopped_workers_prediction_stops_counting_against_the_cap_at_once(
    graded, participant, outbox, settings, django_capture_on_commit_callbacks
):
    """The caps count waiting rows: a prediction handed back (its worker was
    stopped) or answered frees its place at once, not at its window's end."""
    settings.DOJO_PREDICT_WAITING_PER_USER = 1
    first = _ask(graded, participant, django_capture_on_commit_callbacks)
    with pytest.raises(predictions.PredictionUnavailable) as refused:
        _ask(graded, participant, django_capture_on_commit_callbacks)
    assert refused.value.status == 429
    _claim(first)
    assert jobs_hand_back(worker=WORKER) == 1
    first.refresh_from_db()
    assert first.status == PredictionStatus.ERROR and first.reason == STOPPED
    second = _ask(graded, participant, django_capture_on_commit_callbacks)
    _apply(_claim(second), JobOutcome.answered(result={"top": [[1, 0.5]]}))
    assert _ask(graded, participant, django_capture_on_commit_callbacks)


def test_finished_predictions_are_swept_once_their_answer_was_kept(
    asked, graded, participant, django_capture_on_commit_callbacks, settings
):
    """The reconciler's pass deletes finished rows past ANSWER_KEPT_SECONDS:
    the table holds minutes of asking, whatever a workshop asked in all."""
    settings.DOJO_PREDICT_WAITING_PER_USER = 5
    _apply(_claim(asked), JobOutcome.answered(result={"top": [[1, 0.5]]}))
    jobs_reconcile()
    assert _poll(graded, participant, asked)["status"] == "done", "kept a while"
    long_ago = timezone.now() - datetime.timedelta(seconds=ANSWER_KEPT_SECONDS + 1)
    Prediction.objects.filter(pk=asked.pk).update(finished_at=long_ago)
    waiting = _ask(graded, participant, django_capture_on_commit_callbacks)
    jobs_reconcile()
    assert list(Prediction.objects.values_list("pk", flat=True)) == [waiting.pk]
    assert _refusal(graded, participant, asked).status == 404
