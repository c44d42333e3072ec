"""Try your model, the worker's side: a warm predictor answers each prediction.

A worker on the ``predict`` queue claims a prediction row with its message's
token (``submissions.prediction_jobs``), asks the warm predictor sandbox of
this process (model files only, no participant code) and hands the answer back
as a `JobOutcome` through the framework's applier. The web side
(``submissions.predictions``) never loads a model.
"""

import logging
from pathlib import Path

from django.conf import settings

from jobs.apply import job_apply
from jobs.outcome import JobOutcome
from submissions import text_words
from submissions.prediction_jobs import PREDICT, PredictionJob, prediction_claim
from submissions.prediction_rows import Prediction, PredictionKind
from submissions.selectors import run_latest_model

logger = logging.getLogger(__name__)
# Within COULD_NOT_ANSWER when the predictor was restarted, busy or too slow.
BUSY = "it was restarted or busy; try again in a few seconds"

# This process's warm predictor, started on the first request (or at start).
_predictor = None


def _warm_predictor():
    global _predictor
    from jobs.placement import (
        TF_KERNELS_ENV,
        predictor_load_from_settings,
        predictor_memory_from_settings,
    )
    from workers.predictor import WarmPredictor

    if _predictor is None:
        _predictor = WarmPredictor(
            work_root=Path(settings.DOJO_WORK_ROOT),
            backend=settings.DOJO_SANDBOX_BACKEND,
            env={
                "KERAS_BACKEND": settings.DOJO_KERAS_BACKEND,
                "TF_CPP_MIN_LOG_LEVEL": "3",
                **TF_KERNELS_ENV,
            },
            idle_seconds=settings.DOJO_PREDICT_IDLE_SECONDS,
            load_seconds=predictor_load_from_settings(),
            **predictor_memory_from_settings(),
        )
    return _predictor


def predictor_close() -> None:
    """End this worker's predictor now, if it started, and release its folder."""
    if _predictor is not None:
        _predictor.close()


def predictor_warm_up() -> None:
    """Start this worker's predictor sandbox without waiting for a request."""
    _warm_predictor().start()


def prediction_run(*, prediction_id: int, job_token: str, worker: str) -> None:
    """Answer one prediction with the worker's warm predictor (idempotent per
    message): claim it, ask, and apply the answer through its kind's applier."""
    prediction = prediction_claim(
        prediction_id=prediction_id, job_token=job_token, worker=worker
    )
    if prediction is None:
        return  # stale, a duplicate, or past its window: nobody waits for it
    job_apply(
        kind=PREDICT,
        job=PredictionJob(pk=prediction.pk, token=prediction.job_token),
        outcome=_ask(prediction),
    )


def _ask(prediction: Prediction) -> JobOutcome:
    """Return the predictor's answer to one claimed prediction, or how it failed."""
    from workers.predictor import PredictorBusy, PredictorError

    submission = prediction.submission
    model_run = run_latest_model(submission=submission)
    if not model_run:
        return JobOutcome.failed(reason="The model is gone.")
    num_classes = int(
        submission.assignment.spec.get("checks", {}).get("num_classes") or 0
    )
    model = {"model_path": Path(model_run.artifact_path), "key": f"run-{model_run.pk}"}
    pixels, timeout = prediction.asked, settings.DOJO_PREDICT_TIMEOUT_SECONDS
    try:
        if prediction.kind == PredictionKind.EXPLAIN:
            explained = _warm_predictor().explain(
                **model,
                pixels=pixels,
                num_classes=num_classes or 1000,
                length=len(text_words.pixels_ids(pixels)),
                timeout=timeout,
            )
            return JobOutcome.answered(result={"explained": explained})
        if prediction.kind == PredictionKind.MAPS:
            size, maps = _warm_predictor().feature_maps(
                **model, pixels=pixels, timeout=timeout
            )
            return JobOutcome.answered(result={"size": size, "maps": maps})
        top = _warm_predictor().predict(
            **model, pixels=pixels, num_classes=num_classes or 1000, timeout=timeout
        )
        return JobOutcome.answered(result={"top": top})
    except PredictorBusy:
        # Restarted, busy or past its time: not the model's doing.
        return JobOutcome.error(detail=BUSY)
    except PredictorError as exc:
        return JobOutcome.failed(reason=str(exc))
    except OSError as exc:  # the worker's side of the files: a platform fault
        logger.exception("The predictor failed for prediction %s", prediction.pk)
        return JobOutcome.error(detail=exc.strerror or type(exc).__name__)
    except Exception as exc:
        # Ended now, not left running until the reconciler finds it.
        logger.exception("Prediction %s failed on the platform side", prediction.pk)
        return JobOutcome.error(detail=type(exc).__name__)
