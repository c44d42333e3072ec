"""Text models' words: the pack's vocabulary, typed sentences as word ids, and
what a text model sees read back as words.

The web process's side of "try your model" for text: bounded checks before
anything is queued, and the predictor's checked numbers turned into the
site's own words. Nothing here queues or waits (``submissions.predictions``).
"""

import base64
import re

import numpy as np
from django.core.exceptions import ValidationError

from submissions.models import Submission
from web import images
from workshops import folders

# A typed sentence: longer is refused; a definition is a line or two.
MAX_TYPED_CHARS = 1000
# C0 controls but tab and newlines, DEL, C1 controls, bidi overrides.
CONTROL_CHARS = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"
)
_VOCABULARIES: dict[tuple, list[str]] = {}


def text_vocabulary(*, submission: Submission) -> list[str] | None:
    """Return the pack's vocabulary for a text assignment, or None for images."""
    from assignments.text import VOCABULARY_FILE, read_vocabulary

    spec = submission.assignment.spec
    if spec.get("checks", {}).get("input_kind") != "tokens":
        return None
    path = folders.assignment_train_dir(submission.assignment_id) / VOCABULARY_FILE
    try:
        stat = path.stat()
    except OSError:
        return None
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _VOCABULARIES:
        _VOCABULARIES.clear()  # one pack's vocabulary at a time is plenty
        _VOCABULARIES[key] = read_vocabulary(path)
    return _VOCABULARIES[key]


def sequence_length(submission: Submission) -> int:
    return int(
        submission.assignment.spec.get("dataset", {}).get("sequence_length") or 32
    )


def ids_pixels(ids: np.ndarray) -> str:
    return "t:" + base64.b64encode(ids.astype("<i4").tobytes()).decode("ascii")


def pixels_ids(pixels: str) -> list[int]:
    """Return the word ids of a sentence as ``ids_pixels`` wrote them."""
    return np.frombuffer(base64.b64decode(pixels[2:]), "<i4").tolist()


def text_ids(*, submission: Submission, text: object) -> np.ndarray:
    """Return a typed sentence as the pack's word ids, or refuse it.

    Too long, control characters, no words, or no word the vocabulary knows
    are each refused with what to type instead. The caller checks that the
    submission has a graded model to try.
    """
    from assignments.text import UNKNOWN, encode, tokenise

    vocabulary = text_vocabulary(submission=submission)
    if vocabulary is None:
        raise ValidationError("This submission has no graded text model to try.")
    if not isinstance(text, str):
        raise ValidationError('Send JSON: {"text": "a sentence"}.')
    if len(text) > MAX_TYPED_CHARS:
        raise ValidationError(
            f"Type at most {MAX_TYPED_CHARS:,} characters (this has {len(text):,})."
        )
    if CONTROL_CHARS.search(text):
        raise ValidationError(
            "The text holds control characters; type plain words instead."
        )
    if not tokenise(text):
        raise ValidationError("Type a sentence with at least one word.")
    ids = encode([text], vocabulary, length=sequence_length(submission))[0]
    if not np.any(ids > UNKNOWN):
        raise ValidationError(
            "None of these words is in the vocabulary the model was trained on; "
            "try a definition in plain English."
        )
    return ids


def explained_for_page(*, submission: Submission, asked: dict, explained: dict) -> dict:
    """Return the checked explain answer in words: the site's own vocabulary
    reads the sentence's ids (kept with the request) and the neighbours' ids.

    The worker bounded every number; an id past this vocabulary is dropped.
    """
    vocabulary = text_vocabulary(submission=submission) or []
    ids = asked.get("explain") or []
    names = submission.assignment.spec.get("class_names") or []

    def word(i: int) -> str | None:
        return vocabulary[i] if 0 <= i < len(vocabulary) else None

    weights = {position: weight for position, weight in explained["words"]}
    words = [
        {"word": word(i), "weight": weights[position]}
        for position, i in enumerate(ids)
        if position in weights and word(i) is not None
    ]
    neighbours = [
        {
            "word": word(i),
            "near": [
                {"word": word(k), "cosine": cosine}
                for k, cosine in near
                if word(k) is not None
            ],
        }
        for i, near in explained["neighbours"]
        if word(i) is not None
    ]
    read = [word(i) for i in ids if i != 0]
    return {
        "label": images.class_label(names, explained["class"]),
        "probability": explained["probability"],
        "read": " ".join(w for w in read if w is not None),
        "words": words,
        "neighbours": neighbours,
    }
