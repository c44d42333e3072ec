"""Try your model: ask a graded submission's model about one image.

The web process never loads a model. Each question is a prediction row, a
kind of job (``submissions.prediction_jobs``): the request stores it and sends
it to the ``predict`` queue on commit, and the page polls the row. A worker
keeps a warm predictor sandbox (model files only, no participant code) that
answers in milliseconds; its answer is applied to the row.
"""

import datetime
import json

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.ratelimit import rate_take
from submissions import public_split, text_words
from submissions.models import Status, Submission
from submissions.prediction_jobs import TIMED_OUT, prediction_queue
from submissions.prediction_rows import (
    ASKED_MAX_CHARS,
    WAITING_PREDICTION_STATUSES,
    Prediction,
    PredictionKind,
    PredictionStatus,
)
from submissions.selectors import run_latest_model
from submissions.text_words import text_vocabulary
from web import images
from workshops import folders
from workshops.samples import SAMPLES_FILE


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


def _refuse_past_waiting_caps(*, user_id: int, now: datetime.datetime) -> None:
    """Refuse past the caps on waiting predictions (per participant, in all).

    Counted from the rows still waiting inside their window (indexed; at most a
    cap's worth read): an answered or ended prediction stops counting at once,
    one nobody answers when its window ends, and nothing is given back by hand.
    The caller holds the participant's row locked, so their cap holds exactly;
    the room's may be passed by the requests counting at the same moment (at
    most one per web process).
    """
    waiting = Prediction.objects.filter(
        status__in=WAITING_PREDICTION_STATUSES, expires_at__gt=now
    )
    mine = settings.DOJO_PREDICT_WAITING_PER_USER
    if waiting.filter(participant_id=user_id)[:mine].count() >= mine:
        raise PredictionUnavailable(
            "Your earlier images are still being answered; wait for them, then "
            "try again.",
            status=429,
        )
    room = settings.DOJO_PREDICT_WAITING_TOTAL
    if waiting[:room].count() >= room:
        raise PredictionUnavailable(
            "The predictor is busy with the whole room's images; try again in "
            "a few seconds."
        )


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
    return _enqueue(
        submission=submission,
        user_id=user_id,
        pixels=pixels,
        kind=PredictionKind.PREDICT,
    )


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
        submission=submission,
        user_id=user_id,
        pixels=text_words.ids_pixels(ids),
        kind=PredictionKind.PREDICT,
    )


def explain_request_text(*, submission: Submission, user_id: int, text: object) -> dict:
    """Ask which words of a typed sentence moved the model's prediction.

    Checked like a prediction and counted with them; the predictor hides each
    known word in turn and names the nearest words in the model's Embedding.
    The sentence's word ids are kept with the request (its row), so the
    answer's positions are read back through the site's own vocabulary.
    """
    _text_model_refuse_if_missing(submission)
    ids = text_words.text_ids(submission=submission, text=text)
    return _enqueue(
        submission=submission,
        user_id=user_id,
        pixels=text_words.ids_pixels(ids),
        kind=PredictionKind.EXPLAIN,
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
        kind=PredictionKind.EXPLAIN,
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
    return _enqueue(
        submission=submission,
        user_id=user_id,
        pixels=pixels,
        kind=PredictionKind.MAPS,
    )


def _enqueue(
    *, submission: Submission, user_id: int, pixels: str, kind: PredictionKind
) -> dict:
    """Store the question as a prediction row and send it after commit.

    Its window (DOJO_PREDICT_TIMEOUT_SECONDS) is how long the page waits; no
    worker claims it after.
    """
    if len(pixels) > ASKED_MAX_CHARS:
        raise ValidationError("This is too long to ask the model about.")
    _take_rate_slot(user_id)
    now = timezone.now()
    window = datetime.timedelta(seconds=settings.DOJO_PREDICT_TIMEOUT_SECONDS)
    with transaction.atomic():
        # One participant's questions are counted one at a time, so two tabs
        # asking at once still meet their cap.
        get_user_model().objects.select_for_update().filter(pk=user_id).first()
        _refuse_past_waiting_caps(user_id=user_id, now=now)
        prediction = Prediction.objects.create(
            participant_id=user_id,
            submission=submission,
            kind=kind,
            asked=pixels,
            created_at=now,
            expires_at=now + window,
        )
        prediction_queue(prediction=prediction)
    return {"id": str(prediction.pk), "status": "pending"}


def prediction_poll(*, submission: Submission, user_id: int, request_id: str) -> dict:
    """Return ``{"status": "pending"}`` or the answer to one of the user's images.

    One query by id and owner (the question itself is read only to word an
    explain answer). A missing id is a malformed request (400); an id that is
    not this user's, for this submission, is unknown (404), as is one swept
    (``prediction_jobs.ANSWER_KEPT_SECONDS`` after it finished).
    """
    if not request_id:
        raise PredictionUnavailable(
            "Say which prediction: GET this address with ?id= from the POST's answer.",
            status=400,
        )
    prediction = None
    if request_id.isdigit() and len(request_id) <= 18:
        prediction = (
            Prediction.objects.filter(
                pk=int(request_id), participant_id=user_id, submission_id=submission.pk
            )
            .defer("asked")
            .first()
        )
    if prediction is None:
        raise PredictionUnavailable("No such prediction.", status=404)
    if prediction.status in WAITING_PREDICTION_STATUSES:
        if timezone.now() > prediction.expires_at:
            raise PredictionUnavailable(TIMED_OUT)
        return {"status": "pending"}
    if prediction.status == PredictionStatus.FAILED:
        raise PredictionUnavailable(prediction.reason, status=422)
    if prediction.status == PredictionStatus.ERROR:
        raise PredictionUnavailable(prediction.reason)
    return {"status": "done", **_answer_for_page(submission, prediction)}


def _answer_for_page(submission: Submission, prediction: Prediction) -> dict:
    answer = prediction.answer
    if prediction.kind == PredictionKind.EXPLAIN:
        ids = text_words.pixels_ids(prediction.asked)
        return {
            "explained": text_words.explained_for_page(
                submission=submission,
                asked={"explain": ids},
                explained=answer["explained"],
            )
        }
    if prediction.kind == PredictionKind.MAPS:
        # Bounded by the worker; decoded at exactly this size and drawn here.
        drawn = [images.grey_png(m, answer["size"]) for m in answer["maps"]]
        if not drawn or None in drawn:
            raise PredictionUnavailable("The maps could not be drawn.", status=422)
        return {"maps": drawn}
    names = submission.assignment.spec.get("class_names") or []
    return {
        "top": [
            {"label": images.class_label(names, k), "probability": p}
            for k, p in answer["top"]
        ]
    }


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
