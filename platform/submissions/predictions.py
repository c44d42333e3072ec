"""Try your model: ask a graded submission's model about one image.

The web process never loads a model. It sends the image to the ``predict``
queue and waits for the answer in the cache; a worker keeps a warm predictor
sandbox (model files only, no participant code) that answers in milliseconds.
"""

import json
import logging
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError

from submissions import images, storage
from submissions.models import Status, Submission
from submissions.outbox import outbox_send
from submissions.queues import JobQueue, JobTask
from submissions.selectors import run_latest_model

logger = logging.getLogger(__name__)

RESULT_KEY = "dojo:predict:{}"
RATE_KEY = "dojo:predict-rate:{}:{}"
SAMPLES_FILE = "samples.json"
POLL_SECONDS = 0.005


class PredictionUnavailable(Exception):
    """No answer this time; the message says why and whether to retry."""

    def __init__(self, message: str, *, status: int = 503) -> None:
        super().__init__(message)
        self.status = status


def prediction_shape(*, submission: Submission) -> tuple[int, int, int] | None:
    """Return the (H, W, C) a drawn image needs, or None where none can be drawn."""
    checks = submission.assignment.spec.get("checks", {})
    return images.drawable_shape(checks.get("input_shape"))


def prediction_available(*, submission: Submission) -> bool:
    """Return whether the page can offer "try your model" for this submission."""
    return (
        submission.status == Status.GRADED
        and prediction_shape(submission=submission) is not None
        and run_latest_model(submission=submission) is not None
    )


def _take_rate_slot(user_id: int) -> None:
    window = int(time.time() // 60)
    key = RATE_KEY.format(user_id, window)
    cache.add(key, 0, timeout=120)
    if cache.incr(key) > settings.DOJO_PREDICT_PER_MINUTE:
        raise PredictionUnavailable(
            f"You can ask for {settings.DOJO_PREDICT_PER_MINUTE} predictions a "
            "minute; wait a few seconds and try again.",
            status=429,
        )


def prediction_request(*, submission: Submission, user_id: int, pixels: str) -> dict:
    """Return the model's top 3 classes for one image (base64 unsigned bytes)."""
    shape = prediction_shape(submission=submission)
    if not prediction_available(submission=submission) or shape is None:
        raise ValidationError("This submission has no graded model to try.")
    if images.decode_pixels(pixels, shape=shape) is None:
        height, width, channels = shape
        raise ValidationError(
            f"Send one {height} x {width} x {channels} image as base64 bytes."
        )
    _take_rate_slot(user_id)
    request_id = uuid.uuid4().hex
    timeout = settings.DOJO_PREDICT_TIMEOUT_SECONDS
    outbox_send(
        task=JobTask.PREDICT,
        args=[submission.pk, request_id, pixels],
        queue=JobQueue.PREDICT.value,
        expires=timeout,
    )
    deadline = time.monotonic() + timeout
    key = RESULT_KEY.format(request_id)
    while (answer := cache.get(key)) is None:
        if time.monotonic() > deadline:
            raise PredictionUnavailable(
                "The predictor did not answer in time (it may be starting); "
                "try again in a few seconds."
            )
        time.sleep(POLL_SECONDS)
    cache.delete(key)
    if "error" in answer:
        raise PredictionUnavailable(answer["error"], status=422)
    names = submission.assignment.spec.get("class_names") or []
    return {
        "top": [
            {"label": images.class_label(names, k), "probability": p}
            for k, p in answer["top"]
        ]
    }


_predictor = None


def _warm_predictor():
    global _predictor
    from workers.predictor import WarmPredictor

    if _predictor is None:
        _predictor = WarmPredictor(
            work_root=Path(settings.DOJO_WORK_ROOT),
            backend=settings.DOJO_SANDBOX_BACKEND,
            env={
                "KERAS_BACKEND": settings.DOJO_KERAS_BACKEND,
                "TF_CPP_MIN_LOG_LEVEL": "3",
            },
            idle_seconds=settings.DOJO_PREDICT_IDLE_SECONDS,
        )
    return _predictor


def predictor_warm_up() -> None:
    """Start this worker's predictor sandbox without waiting for a request."""
    _warm_predictor().start()


def prediction_run(*, submission_id: int, request_id: str, pixels: str) -> None:
    """Answer one request with the worker's warm predictor; store it in the cache."""
    from workers.predictor import PredictorError

    key = RESULT_KEY.format(request_id)
    submission = (
        Submission.objects.select_related("assignment").filter(pk=submission_id).first()
    )
    model_run = submission and run_latest_model(submission=submission)
    if not model_run:
        cache.set(key, {"error": "The model is gone."}, timeout=60)
        return
    num_classes = int(
        submission.assignment.spec.get("checks", {}).get("num_classes") or 0
    )
    try:
        top = _warm_predictor().predict(
            model_path=Path(model_run.artifact_path),
            key=f"run-{model_run.pk}",
            pixels=pixels,
            num_classes=num_classes or 1000,
            timeout=settings.DOJO_PREDICT_TIMEOUT_SECONDS,
        )
        answer: dict = {"top": top}
    except PredictorError as exc:
        answer = {"error": str(exc)}
    except OSError as exc:  # the worker's side of the files: a platform fault
        logger.exception("The predictor failed for submission %s", submission_id)
        answer = {"error": f"The predictor could not answer ({exc.strerror})."}
    cache.set(key, answer, timeout=60)


def samples_write(*, assignment_id: int, test_split: Path) -> None:
    """Keep one public test image per class for the page's "try" samples."""
    import numpy as np

    with np.load(test_split, allow_pickle=False) as data:
        x, y = data["x_public"], data["y_public"]
    samples = []
    for label in np.unique(y)[:12]:
        index = int(np.flatnonzero(y == label)[0])
        pixels = np.clip(np.rint(x[index] * 255), 0, 255).astype(np.uint8)
        samples.append({"label": int(label), "pixels": _b64(pixels.tobytes())})
    folder = storage.assignment_materials_dir(assignment_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SAMPLES_FILE).write_text(json.dumps(samples))


def _b64(raw: bytes) -> str:
    import base64

    return base64.b64encode(raw).decode("ascii")


def samples_for_page(*, submission: Submission) -> list[dict]:
    """Return the assignment's sample images as PNGs with their pixels and class."""
    shape = prediction_shape(submission=submission)
    path = storage.assignment_materials_dir(submission.assignment_id) / SAMPLES_FILE
    if shape is None or not path.is_file():
        return []
    names = submission.assignment.spec.get("class_names") or []
    out = []
    for item in json.loads(path.read_text()):
        raw = images.decode_pixels(item.get("pixels"), shape=shape)
        if raw is None:
            continue
        height, width, channels = shape
        out.append(
            {
                "src": images.png_data_uri(
                    raw, height=height, width=width, channels=channels
                ),
                "pixels": item["pixels"],
                "label": images.class_label(names, int(item.get("label", -1))),
            }
        )
    return out
