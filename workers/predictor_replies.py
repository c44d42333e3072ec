"""Check what the predictor sandbox writes back: bounded, typed, in range.

Everything read here comes out of a sandbox and is hostile input: a reply is
read without following links, at most a few KiB, and every value is checked
before the site shows it. No Django here.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import time
from collections.abc import Mapping
from pathlib import Path

from workers import outputs

REPLY_BYTES = 4096
# "What your model sees": up to 8 maps of at most 64 x 64 bytes, in base64.
MAPS_REPLY_BYTES = 64 * 1024
MAX_MAPS = 8
MAX_MAP_SIDE = 64
# Which words moved a text model's prediction: a weight per word of the
# sentence (at most 64) and up to 3 words' 5 nearest words.
EXPLAIN_REPLY_BYTES = 8192
MAX_WEIGHED_WORDS = 64
MAX_NEIGHBOUR_WORDS = 3
MAX_NEIGHBOURS = 5
MAX_WORD_ID = 1 << 20
# The serve loop's "working" marker: "<request file name> <model key>\n".
WORKING_BYTES = 160
WORKING = re.compile(r"\A(\d{1,20}-[0-9a-f]{8}\.json) ([A-Za-z0-9_-]{1,64})\n?\Z")


class PredictorError(Exception):
    """The predictor could not answer; the message can be shown to the user."""


class PredictorBusy(PredictorError):
    """The predictor could not answer now (restarted, busy, past its time) and
    nothing says the model is to blame: the platform's side, try again."""


class PredictorOverMemory(PredictorError):
    """A request went past its memory budget; its predictor must be replaced."""


def read_reply(path: Path, *, num_classes: int) -> list[tuple[int, float]]:
    """Read a reply file bounded (no links, no FIFOs, at most REPLY_BYTES)."""
    return parse_reply(read_bounded(path, limit=REPLY_BYTES), num_classes=num_classes)


def read_bounded(path: Path, *, limit: int) -> bytes:
    """Return at most ``limit`` bytes of a reply file; never follow a link."""
    try:
        return outputs.read_bounded(path, max_bytes=limit)
    except outputs.UntrustedOutputError as exc:
        raise PredictorError("The predictor's answer was unreadable.") from exc


def working_model(
    marker: Path, *, asked: Mapping[str, str], held_seconds: float
) -> str | None:
    """Return the model key that has held the predictor for ``held_seconds``.

    ``marker`` is the serve loop's ``working`` file (hostile: opened without
    following a link, a regular file of at most ``WORKING_BYTES``, in the exact
    format, naming a request this worker sent, with the model key it sent it
    for). Its age is the kernel's modification time, written when the request
    was picked up. Anything else (missing, malformed, another request's key,
    a request picked up too recently to be past its budget) gives None.
    """
    try:
        fd = os.open(marker, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            return None
        data = handle.read(WORKING_BYTES + 1)
    try:
        found = (
            WORKING.match(data.decode("ascii")) if len(data) <= WORKING_BYTES else None
        )
    except UnicodeDecodeError:
        return None
    if found is None or asked.get(found[1]) != found[2]:
        return None
    if time.time() - info.st_mtime < held_seconds:
        return None
    return found[2]


def refusal_reason(data: bytes) -> tuple[str, bool] | None:
    """Return (error, restart) of a reply that refuses its model for good.

    ``"refused": true`` marks a model the predictor will not load again;
    ``"restart": true`` one whose request went past its memory budget, which
    also asks for a fresh predictor. Any other reply gives None.
    """
    try:
        reply = json.loads(data)
    except ValueError:
        return None  # unreadable: the caller's parser says so
    if not isinstance(reply, dict) or "error" not in reply:
        return None
    restart = reply.get("restart") is True
    if restart or reply.get("refused") is True:
        return str(reply["error"])[:300], restart
    return None


def _reply_object(data: bytes) -> dict:
    """Return a reply's JSON object; raise its bounded error, or unreadable."""
    try:
        reply = json.loads(data)
    except ValueError as exc:
        raise PredictorError("The predictor's answer was unreadable.") from exc
    if not isinstance(reply, dict):
        raise PredictorError("The predictor's answer was unreadable.")
    if "error" in reply:
        if reply.get("restart") is True:
            raise PredictorOverMemory(str(reply["error"])[:300])
        raise PredictorError(str(reply["error"])[:300])
    return reply


def parse_reply(data: bytes, *, num_classes: int) -> list[tuple[int, float]]:
    """Check a reply from the sandbox: at most 3 (class, probability) pairs."""
    reply = _reply_object(data)
    top = reply.get("top")
    if not isinstance(top, list) or not 1 <= len(top) <= 3:
        raise PredictorError("The predictor's answer was unreadable.")
    pairs = []
    for entry in top:
        if not (isinstance(entry, list) and len(entry) == 2):
            raise PredictorError("The predictor's answer was unreadable.")
        label, prob = entry
        if not (
            isinstance(label, int)
            and not isinstance(label, bool)
            and 0 <= label < num_classes
            and isinstance(prob, int | float)
            and math.isfinite(prob)
            and 0 <= prob <= 1
        ):
            raise PredictorError("The predictor's answer was unreadable.")
        pairs.append((label, float(prob)))
    return pairs


def parse_maps_reply(data: bytes) -> tuple[list[int], list[str]]:
    """Check a maps reply from the sandbox: a small size and at most 8 strings.

    Only bounded here; the site decodes each map at exactly ``size`` and draws
    it itself (``submissions.images``).
    """
    unreadable = PredictorError("The predictor's answer was unreadable.")
    reply = _reply_object(data)
    size, maps = reply.get("size"), reply.get("maps")
    if not (
        isinstance(size, list)
        and len(size) == 2
        and all(
            isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_MAP_SIDE
            for v in size
        )
    ):
        raise unreadable
    longest = 4 * (size[0] * size[1] // 3 + 2)
    if not (
        isinstance(maps, list)
        and 1 <= len(maps) <= MAX_MAPS
        and all(isinstance(m, str) and len(m) <= longest for m in maps)
    ):
        raise unreadable
    return list(size), list(maps)


def _whole(value: object, below: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < below


def _number(value: object, lo: float, hi: float) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and lo <= value <= hi
    )


def parse_explain_reply(data: bytes, *, num_classes: int, length: int) -> dict:
    """Check an explain reply: class, probability, word weights, neighbours.

    Positions are below the sentence's ``length``, each at most once; word ids
    are only bounded here (the site maps them through its vocabulary).
    """
    unreadable = PredictorError("The predictor's answer was unreadable.")
    reply = _reply_object(data)
    label, probability = reply.get("class"), reply.get("probability")
    words, near = reply.get("words"), reply.get("neighbours")
    if not (_whole(label, num_classes) and _number(probability, 0, 1)):
        raise unreadable
    if not (isinstance(words, list) and len(words) <= MAX_WEIGHED_WORDS):
        raise unreadable
    weights: list[tuple[int, float]] = []
    for entry in words:
        if not (
            isinstance(entry, list)
            and len(entry) == 2
            and _whole(entry[0], length)
            and _number(entry[1], -1, 1)
        ):
            raise unreadable
        weights.append((entry[0], float(entry[1])))
    if len({position for position, _ in weights}) != len(weights):
        raise unreadable
    if not (isinstance(near, list) and len(near) <= MAX_NEIGHBOUR_WORDS):
        raise unreadable
    neighbours: list[tuple[int, list[tuple[int, float]]]] = []
    for entry in near:
        if not (
            isinstance(entry, list)
            and len(entry) == 2
            and _whole(entry[0], MAX_WORD_ID)
            and isinstance(entry[1], list)
            and len(entry[1]) <= MAX_NEIGHBOURS
            and all(
                isinstance(pair, list)
                and len(pair) == 2
                and _whole(pair[0], MAX_WORD_ID)
                and _number(pair[1], -1.0001, 1.0001)
                for pair in entry[1]
            )
        ):
            raise unreadable
        neighbours.append(
            (
                entry[0],
                [(pair[0], max(-1.0, min(1.0, float(pair[1])))) for pair in entry[1]],
            )
        )
    return {
        "class": label,
        "probability": float(probability),
        "words": weights,
        "neighbours": neighbours,
    }
