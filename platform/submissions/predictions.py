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

from accounts.ratelimit import rate_release, rate_take
from jobs.outbox import outbox_send
from jobs.queues import JobQueue, JobTask
from submissions import public_split, text_words
from submissions.models import Status, Submission
from submissions.selectors import run_latest_model
from submissions.text_words import text_vocabulary
from web import images
from workshops import folders
from workshops.samples import SAMPLES_FILE

logger = logging.getLogger(__name__)

RESULT_KEY = "dojo:predict:{}"
RATE_KEY = "dojo:predict-rate:{}:{}"
# How long an answer waits for the page to read it.
ANSWER_KEPT_SECONDS = 120


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
        and (
            prediction_shape(submission=submission) is not None
            or text_vocabulary(submission=submission) is not None
        )
        and run_latest_model(submission=submission) is not None
    )


def _take_rate_slot(user_id: int) -> None:
    # Atomic on any cache backend (the database cache's incr is not).
    wait = rate_take(
        key=f"predict:{user_id}", limit=settings.DOJO_PREDICT_PER_MINUTE, window=60
    )
    if wait is not None:
        raise PredictionUnavailable(
            f"You can ask for {settings.DOJO_PREDICT_PER_MINUTE} predictions a "
            f"minute; wait {wait} seconds and try again.",
            status=429,
        )


def _take_waiting_slots(user_id: int) -> None:
    """Refuse past the caps on waiting predictions (per participant, in all).

    Counted per answer window (the predict timeout), atomically; an answered
    image gives its slots back (``_release_waiting_slots``), so the caps count
    images still waiting, and no request waits longer than the window.
    """
    window = _waiting_window()
    if rate_take(
        key=f"predict-waiting:{user_id}",
        limit=settings.DOJO_PREDICT_WAITING_PER_USER,
        window=window,
    ):
        raise PredictionUnavailable(
            "Your earlier images are still being answered; wait for them, then "
            "try again.",
            status=429,
        )
    if rate_take(
        key="predict-waiting:all",
        limit=settings.DOJO_PREDICT_WAITING_TOTAL,
        window=window,
    ):
        raise PredictionUnavailable(
            "The predictor is busy with the whole room's images; try again in "
            "a few seconds."
        )


def _waiting_window() -> int:
    return max(1, int(settings.DOJO_PREDICT_TIMEOUT_SECONDS))


def _release_waiting_slots(asked: dict) -> None:
    taken_at = asked.get("taken_at")
    if not isinstance(taken_at, int | float):
        return
    window = _waiting_window()
    for key in (f"predict-waiting:{asked.get('user')}", "predict-waiting:all"):
        rate_release(key=key, window=window, taken_at=taken_at)


def prediction_request(*, submission: Submission, user_id: int, pixels: str) -> dict:
    """Send one image (base64 unsigned bytes) to the predictor; return its id.

    Nothing waits here: the page asks ``prediction_poll`` for the answer.
    """
    shape = prediction_shape(submission=submission)
    if not prediction_available(submission=submission) or shape is None:
        raise ValidationError("This submission has no graded model to try.")
    if images.decode_pixels(pixels, shape=shape) is None:
        height, width, channels = shape
        raise ValidationError(
            f"Send one {height} x {width} x {channels} image as base64 bytes."
        )
    return _enqueue(submission=submission, user_id=user_id, pixels=pixels)


def _text_model_refuse_if_missing(submission: Submission) -> None:
    if not prediction_available(submission=submission):
        raise ValidationError("This submission has no graded text model to try.")


def prediction_request_text(
    *, submission: Submission, user_id: int, text: object
) -> dict:
    """Send one typed sentence, as the pack's word ids, to the predictor.

    The text is bounded and checked before anything is queued (``_text_ids``).
    Markup is inert: only the words' ids leave here, and the text is never
    shown back.
    """
    _text_model_refuse_if_missing(submission)
    ids = text_words.text_ids(submission=submission, text=text)
    return _enqueue(
        submission=submission, user_id=user_id, pixels=text_words.ids_pixels(ids)
    )


def explain_request_text(*, submission: Submission, user_id: int, text: object) -> dict:
    """Ask which words of a typed sentence moved the model's prediction.

    Checked like a prediction and counted with them; the predictor hides each
    known word in turn and names the nearest words in the model's Embedding.
    The sentence's word ids are kept with the request, so the answer's
    positions are read back through the site's own vocabulary.
    """
    _text_model_refuse_if_missing(submission)
    ids = text_words.text_ids(submission=submission, text=text)
    return _enqueue(
        submission=submission,
        user_id=user_id,
        pixels=text_words.ids_pixels(ids),
        explain=[int(i) for i in ids],
    )


def explain_request_public(
    *, submission: Submission, user_id: int, index: object
) -> dict:
    """Ask which words of public test definition ``index`` moved the prediction.

    The definition is the site's own (kept at load, never a private one); the
    index is refused with what to pick instead, before anything is queued.
    """
    _text_model_refuse_if_missing(submission)
    if text_vocabulary(submission=submission) is None:
        raise ValidationError("This submission has no graded text model to try.")
    ids = public_split.public_definition_get(
        assignment_id=submission.assignment_id, index=index
    )
    length = text_words.sequence_length(submission)
    if ids.shape != (length,):
        raise ValidationError(
            "The public test definitions do not match this assignment's length; "
            "ask your instructor to reload the workshop's data."
        )
    return _enqueue(
        submission=submission,
        user_id=user_id,
        pixels=text_words.ids_pixels(ids),
        explain=[int(i) for i in ids],
    )


def maps_request(*, submission: Submission, user_id: int, image: object) -> dict:
    """Ask for the first convolution's maps of public test image ``image``.

    Counted with the predictions: the same warm predictor answers, polled the
    same way (``prediction_poll``).
    """
    sizes = public_split.public_split_sizes(assignment_id=submission.assignment_id)
    if not prediction_available(submission=submission) or sizes is None:
        raise ValidationError("This submission has no graded model to show.")
    index = public_split.public_index_parse(
        image=str(image)[:64] if isinstance(image, int | str) else "",
        split="",
        public=sizes["public"],
        private=sizes["private"],
    )
    pixels = public_split.public_image_get(
        assignment_id=submission.assignment_id, index=index
    )
    return _enqueue(submission=submission, user_id=user_id, pixels=pixels, maps=True)


def _enqueue(
    *,
    submission: Submission,
    user_id: int,
    pixels: str,
    maps: bool = False,
    explain: list[int] | None = None,
) -> dict:
    _take_rate_slot(user_id)
    _take_waiting_slots(user_id)
    request_id = uuid.uuid4().hex
    timeout = settings.DOJO_PREDICT_TIMEOUT_SECONDS
    cache.set(
        RESULT_KEY.format(request_id),
        {
            "status": "pending",
            "user": user_id,
            "submission": submission.pk,
            "taken_at": time.time(),
            "until": time.time() + timeout,
            "maps": maps,
            **({"explain": explain} if explain is not None else {}),
        },
        timeout=int(timeout) + ANSWER_KEPT_SECONDS,
    )
    outbox_send(
        task=JobTask.PREDICT,
        args=[submission.pk, request_id, pixels],
        queue=JobQueue.PREDICT.value,
        expires=timeout,
    )
    return {"id": request_id, "status": "pending"}


def prediction_poll(*, submission: Submission, user_id: int, request_id: str) -> dict:
    """Return ``{"status": "pending"}`` or the answer to one of the user's images.

    A missing id is a malformed request (400); an id that is not this user's,
    for this submission, is unknown (404).
    """
    if not request_id:
        raise PredictionUnavailable(
            "Say which prediction: GET this address with ?id= from the POST's answer.",
            status=400,
        )
    entry = cache.get(RESULT_KEY.format(request_id)) if request_id.isalnum() else None
    if (
        not isinstance(entry, dict)
        or entry.get("user") != user_id
        or entry.get("submission") != submission.pk
    ):
        raise PredictionUnavailable("No such prediction.", status=404)
    if entry.get("status") == "pending":
        if time.time() > float(entry.get("until", 0)):
            raise PredictionUnavailable(
                "The predictor did not answer in time (it may be starting); "
                "try again in a few seconds."
            )
        return {"status": "pending"}
    if "error" in entry:
        raise PredictionUnavailable(entry["error"], status=422)
    if "explained" in entry:
        return {
            "status": "done",
            "explained": text_words.explained_for_page(
                submission=submission, asked=entry, explained=entry["explained"]
            ),
        }
    if "maps" in entry:
        # Bounded by the worker; decoded at exactly this size and drawn here.
        drawn = [images.grey_png(m, entry["size"]) for m in entry["maps"]]
        if not drawn or None in drawn:
            raise PredictionUnavailable("The maps could not be drawn.", status=422)
        return {"status": "done", "maps": drawn}
    names = submission.assignment.spec.get("class_names") or []
    return {
        "status": "done",
        "top": [
            {"label": images.class_label(names, k), "probability": p}
            for k, p in entry["top"]
        ],
    }


_predictor = None


def _warm_predictor():
    global _predictor
    from submissions.services.placement import (
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


def prediction_run(*, submission_id: int, request_id: str, pixels: str) -> None:
    """Answer one request with the worker's warm predictor; store it in the cache."""
    from workers.predictor import PredictorError

    key = RESULT_KEY.format(request_id)
    asked = cache.get(key)
    if not isinstance(asked, dict):
        return  # expired, or never asked through the site: nobody will read it
    owner = {"user": asked.get("user"), "submission": asked.get("submission")}
    submission = (
        Submission.objects.select_related("assignment").filter(pk=submission_id).first()
    )
    model_run = submission and run_latest_model(submission=submission)
    if not model_run:
        cache.set(key, {**owner, "error": "The model is gone."}, timeout=60)
        _release_waiting_slots(asked)
        return
    num_classes = int(
        submission.assignment.spec.get("checks", {}).get("num_classes") or 0
    )
    model = {"model_path": Path(model_run.artifact_path), "key": f"run-{model_run.pk}"}
    timeout = settings.DOJO_PREDICT_TIMEOUT_SECONDS
    try:
        if isinstance(asked.get("explain"), list):
            explained = _warm_predictor().explain(
                **model,
                pixels=pixels,
                num_classes=num_classes or 1000,
                length=len(asked["explain"]),
                timeout=timeout,
            )
            # The sentence's ids stay with the answer: the poll reads them.
            answer = {"explained": explained, "explain": asked["explain"]}
        elif asked.get("maps") is True:
            size, maps = _warm_predictor().feature_maps(
                **model, pixels=pixels, timeout=timeout
            )
            answer: dict = {"size": size, "maps": maps}
        else:
            top = _warm_predictor().predict(
                **model, pixels=pixels, num_classes=num_classes or 1000, timeout=timeout
            )
            answer = {"top": top}
    except PredictorError as exc:
        answer = {"error": str(exc)}
    except OSError as exc:  # the worker's side of the files: a platform fault
        logger.exception("The predictor failed for submission %s", submission_id)
        answer = {"error": f"The predictor could not answer ({exc.strerror})."}
    cache.set(key, {**owner, "status": "done", **answer}, timeout=ANSWER_KEPT_SECONDS)
    _release_waiting_slots(asked)


def samples_for_page(*, submission: Submission) -> list[dict]:
    """Return the assignment's sample images as PNGs with their pixels and class."""
    shape = prediction_shape(submission=submission)
    path = folders.assignment_materials_dir(submission.assignment_id) / SAMPLES_FILE
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
