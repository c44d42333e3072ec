"""A warm predictor: answer "what does this model say about this image?" fast.

Runs inside the evaluation sandbox, which holds model files and nothing else
(no participant code, no test data). It talks through files in its one
writable folder, so it needs no socket:

- ``models/<key>.keras``: models the worker placed there (loaded safely, kept
  in a small cache);
- ``requests/<id>.json``: ``{"model": key, "pixels": base64 uint8 H x W x C}``,
  with ``"maps": true`` to ask for the first convolution's feature maps
  ("what your model sees") instead of the classes, or, for word ids,
  ``"explain": true`` for which words moved the prediction and the nearest
  words in the model's embedding (``_explain``);
- ``responses/<id>.json``: ``{"top": [[class, probability], ...]}`` (at most
  three, best first), ``{"size": [h, w], "maps": [base64 uint8 h x w, ...]}``
  or ``{"error": reason}``; ``"restart": true`` with an error says this process
  went past a request's memory budget and should be replaced.

Each request has a memory budget (``request_memory_bytes``), far below the
sandbox's: a model estimated to need more for one image is refused unrun, and
a request whose peak went past it is answered with an error and the process
asks to be replaced, before a greedy model gets it killed for everyone.

Each model load has a time budget (``load_seconds``) too: a load still running
past it is abandoned, so one slow model delays the requests waiting behind it
by that budget at most instead of holding the process until the worker kills
it. A model that could not be loaded (too slow, too greedy, broken) is
refused from then on without loading it again, and its error says
``"refused": true`` so that the worker remembers it too.

While it works on a request it keeps ``working``: ``<request name> <key>``,
written before the request's model is loaded or called and removed once its
answer is written, so that a worker whose wait ran out blames exactly the
model that holds this process (``workers.predictor_replies.working_model``).

It exits after ``idle`` seconds without a request, or when ``stop`` appears.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
import signal
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from ._errors import GraderError, IncompatibleModelError
from ._explain import ScoresUnusable, explain
from ._inspect import summarize
from ._load import load_model
from ._maps import conv_maps, encoded_maps, first_conv
from ._memory import PeakMemory, activation_bytes, mib

KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# "<request file name> <model key or ->": what this process is working on.
WORKING = "working"
POLL_SECONDS = 0.002
MODELS_KEPT = 8
REQUEST_BYTES = 1024 * 1024
MAX_INPUT_VALUES = 1024 * 1024
# Word ids a typed sentence may hold ("t:" + base64 int32), within any vocabulary.
TOKENS_PREFIX = "t:"
MAX_TOKEN_ID = 1 << 20
REQUEST_MEMORY_BYTES = 1024 * 1024 * 1024
LOAD_SECONDS = 8.0
LOAD_RETRY_SECONDS = 0.05
REFUSALS_KEPT = 256
SMALLER_MODEL_HINT = (
    "Use a smaller model: fewer or narrower layers, or pool/stride early."
)


class _Refused(IncompatibleModelError):
    """The model could not be loaded here; it is refused from then on."""


class _MissingFile(GraderError):
    """The worker has not placed (or has dropped) the model's file: ask again."""


class _LoadTooSlow(BaseException):
    """Raised into a load past its budget.

    Not an Exception: Keras's loader catches Exception to collect per-layer
    errors, and must not swallow this one.
    """


def _late_alarm(signum: int, frame: object) -> None:
    """Ignore an alarm that arrives after its load ended."""


class _LoadBudget:
    """Raise ``_LoadTooSlow`` into the code inside once ``seconds`` have passed.

    A signal, so the load itself is interrupted (at its next Python step) and
    the process can go on serving; only the main thread can take it. Where the
    exception lands in a finalizer or a callback that swallows it, it is raised
    again shortly, and ``expired`` still says the budget was spent.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._previous: Any = None

    def __enter__(self) -> None:
        self._previous = signal.signal(signal.SIGALRM, self._expire)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc: object) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        # An alarm already sent may still arrive: SIGALRM's default would end
        # the process, so a late one meets a handler that does nothing.
        previous = self._previous if callable(self._previous) else _late_alarm
        signal.signal(signal.SIGALRM, previous)

    def _expire(self, signum: int, frame: object) -> None:
        self.expired = True
        signal.setitimer(signal.ITIMER_REAL, LOAD_RETRY_SECONDS)
        raise _LoadTooSlow


class _Models:
    """Loaded models by key, least recently used dropped first."""

    def __init__(
        self,
        folder: Path,
        *,
        request_memory_bytes: int = REQUEST_MEMORY_BYTES,
        load_seconds: float = LOAD_SECONDS,
    ) -> None:
        self.folder = folder
        self.request_memory_bytes = request_memory_bytes
        self.load_seconds = load_seconds
        self.loaded: OrderedDict[str, Any] = OrderedDict()
        # A key names one stored file: a model refused once is refused unloaded.
        self.refused: OrderedDict[str, str] = OrderedDict()

    def get(self, key: str) -> Any:
        """Return the loaded model ``key``; raise ``_Refused`` if it cannot be."""
        if key in self.refused:
            raise _Refused(self.refused[key])
        if key in self.loaded:
            self.loaded.move_to_end(key)
            return self.loaded[key]
        path = self.folder / f"{key}.keras"
        if not path.is_file():
            raise _MissingFile("The model is not in the predictor's folder.")
        budget = _LoadBudget(self.load_seconds)
        slow = (
            f"The model takes longer than {self.load_seconds:g} s to load, the "
            f"most a prediction may wait for it. {SMALLER_MODEL_HINT}"
        )
        try:
            with budget:
                model = self._load(path)
        except BaseException as exc:
            if budget.expired:  # whatever the interrupted loader made of it
                self._refuse(key, slow)
            if isinstance(exc, _Refused):
                self._refuse(key, str(exc))
            if isinstance(exc, GraderError):
                self._refuse(key, f"The model cannot be loaded: {exc}"[:300])
            raise
        if budget.expired:
            self._refuse(key, slow)
        self.loaded[key] = model
        while len(self.loaded) > MODELS_KEPT:
            self.loaded.popitem(last=False)
        return model

    def _load(self, path: Path) -> Any:
        model = load_model(path)
        shape = input_shape(model)
        needed = activation_bytes(model)
        if needed > self.request_memory_bytes:
            raise _Refused(
                f"The model needs too much memory to try here: about {mib(needed)} "
                f"for one image, and a prediction may use "
                f"{mib(self.request_memory_bytes)}. {SMALLER_MODEL_HINT}"
            )
        # One call now, so the first real answer does not pay for tracing.
        try:
            model(np.zeros((1, *shape), dtype=_input_dtype(model)), training=False)
        except Exception as exc:  # noqa: BLE001 - the participant's model failed
            raise IncompatibleModelError(
                f"The model failed on a blank image: {type(exc).__name__}"
            ) from exc
        return model

    def _refuse(self, key: str, reason: str) -> NoReturn:
        self.refused[key] = reason
        while len(self.refused) > REFUSALS_KEPT:
            self.refused.popitem(last=False)
        raise _Refused(reason)


def input_shape(model: Any) -> tuple[int, ...]:
    """Return the model's fixed (H, W, C); refuse open or odd dimensions."""
    dims = tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else ()
    if not dims or not all(isinstance(d, int) and 0 < d <= 4096 for d in dims):
        raise IncompatibleModelError(
            f"The model's input shape {list(dims)} has open or invalid dimensions; "
            "start it with keras.Input(shape=x_train.shape[1:])."
        )
    if int(np.prod(dims)) > MAX_INPUT_VALUES:
        raise IncompatibleModelError("The model's input is too large to try here.")
    return dims


def _input_dtype(model: Any) -> str:
    """Return "int32" for a model that takes word ids, else "float32"."""
    dtype = str(getattr(model.inputs[0], "dtype", "float32"))
    return "int32" if "int" in dtype else "float32"


def _tokens(raw: bytes, shape: tuple[int, ...]) -> np.ndarray | str:
    """Return one row of word ids (int32 little-endian bytes), or what is wrong."""
    if len(shape) != 1:
        return f"This model takes images of shape {list(shape)}, not words."
    if len(raw) != 4 * shape[0]:
        return f"Send exactly {shape[0]} word ids."
    ids = np.frombuffer(raw, "<i4").astype("int32").reshape((1, shape[0]))
    if ids.min() < 0 or ids.max() >= MAX_TOKEN_ID:
        return "A word id is out of range."
    return ids


def _probabilities(scores: np.ndarray) -> np.ndarray:
    """Return scores as probabilities (a softmax unless they already are)."""
    scores = scores.astype("float64")
    total = scores.sum()
    if np.all(scores >= 0) and abs(total - 1.0) < 1e-3:
        return scores / total
    shifted = np.exp(scores - scores.max())
    return shifted / shifted.sum()


def answer(request: dict[str, Any], models: _Models) -> dict[str, Any]:
    """Return the top-3 classes (or the maps) for one request, or an error to show.

    Nothing a model does can stop the predictor: every exception becomes an
    error answer for this request alone.
    """
    try:
        return _answer(request, models)
    except Exception as exc:  # noqa: BLE001 - one model must not stop the others
        return {"error": f"The model cannot be used here: {type(exc).__name__}"}


def _answer(request: dict[str, Any], models: _Models) -> dict[str, Any]:
    key = request.get("model")
    if not isinstance(key, str) or not KEY.match(key):
        return {"error": "bad model key"}
    try:
        model = models.get(key)
    except _Refused as exc:
        return {"error": str(exc), "refused": True}
    except _MissingFile as exc:
        return {"error": f"{exc} Try again."}
    shape = input_shape(model)
    pixels = str(request.get("pixels", ""))
    # A typed sentence arrives as word ids: "t:" then base64 of int32 values.
    words = pixels.startswith(TOKENS_PREFIX)
    try:
        raw = base64.b64decode(pixels.removeprefix(TOKENS_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        return {"error": "The image is not valid base64."}
    if words:
        x = _tokens(raw, shape)
        if isinstance(x, str):
            return {"error": x}
        if request.get("maps") is True:
            return {"error": "A sentence has no feature maps to show."}
        if request.get("explain") is True:
            return _explain_answer(model, x)
    elif request.get("explain") is True:
        return {"error": "Only a sentence's words can be weighed."}
    elif len(raw) != int(np.prod(shape)):
        return {"error": f"The image does not fit the model's input {list(shape)}."}
    else:
        x = np.frombuffer(raw, np.uint8).astype("float32").reshape((1, *shape)) / 255.0
    if request.get("maps") is True:
        return _maps_answer(model, x)
    try:
        out = model(x, training=False)
        scores = np.asarray(out.numpy() if hasattr(out, "numpy") else out)[0]
    except Exception as exc:  # the participant's model failed at call time
        return {"error": f"The model failed on this image: {type(exc).__name__}"}
    if scores.ndim != 1 or not np.all(np.isfinite(scores)):
        return {"error": "The model's output is not one finite score per class."}
    probs = _probabilities(scores)
    best = np.argsort(-probs)[:3]
    return {"top": [[int(k), round(float(probs[k]), 6)] for k in best]}


def _explain_answer(model: Any, x: np.ndarray) -> dict[str, Any]:
    try:
        reply = explain(model, x, _probabilities)
    except ScoresUnusable:
        return {"error": "The model's output is not one finite score per class."}
    except Exception as exc:  # the participant's model failed at call time
        return {"error": f"The model failed on this sentence: {type(exc).__name__}"}
    return reply


def _maps_answer(model: Any, x: np.ndarray) -> dict[str, Any]:
    conv = first_conv(summarize(model))
    if conv is None:
        return {"error": "The model has no Conv2D layer to show."}
    maps = conv_maps(model, conv, x)
    if maps is None:
        return {"error": "The first convolution's maps cannot be drawn."}
    return {
        "size": [int(maps.shape[1]), int(maps.shape[2])],
        "maps": encoded_maps(maps[0]),
    }


def _write(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload))
    os.replace(tmp, path)


def serve(
    folder: Path,
    *,
    idle: float = 600.0,
    request_memory_bytes: int = REQUEST_MEMORY_BYTES,
    load_seconds: float = LOAD_SECONDS,
) -> int:
    """Answer requests in ``folder`` until idle for ``idle`` seconds; return 0.

    A model load past ``load_seconds`` is abandoned and its model refused; the
    requests waiting behind it are answered next, by this same process.

    A request that went past ``request_memory_bytes`` is answered with
    ``"restart": true``; the worker, once it has read that answer, stops this
    process (exiting here could remove the answer before it is read).
    """
    requests = folder / "requests"
    models = _Models(
        folder / "models",
        request_memory_bytes=request_memory_bytes,
        load_seconds=load_seconds,
    )
    peak = PeakMemory()
    # Pay for the backend's import (seconds) now, not on the first request.
    import keras

    keras.ops.convert_to_numpy(keras.ops.ones((1,)) * 2)
    (folder / "ready").write_text(str(os.getpid()))
    last = time.monotonic()
    # A folder that is gone (swept, removed by an operator) can never get a
    # request again: exit, and the worker starts a new predictor.
    while requests.is_dir() and not (folder / "stop").exists():
        pending = sorted(p for p in requests.glob("*.json"))
        if not pending:
            if time.monotonic() - last > idle:
                break
            time.sleep(POLL_SECONDS)
            continue
        for path in pending:
            last = time.monotonic()
            handle(path, folder, models, peak, request_memory_bytes)
    return 0


def handle(
    path: Path,
    folder: Path,
    models: _Models,
    peak: PeakMemory,
    request_memory_bytes: int = REQUEST_MEMORY_BYTES,
) -> None:
    """Answer one request file into ``responses/``, marked as ``WORKING`` meanwhile.

    The marker names the request and its model while this process works on it
    (load and call alike), so that a worker whose wait ran out knows exactly
    which model holds the predictor, not merely which request was waiting.
    """
    peak.reset()
    marker = folder / WORKING
    try:
        try:
            request = json.loads(path.read_bytes()[:REQUEST_BYTES])
            request = request if isinstance(request, dict) else {}
            key = request.get("model")
            named = key if isinstance(key, str) and KEY.match(key) else "-"
            marker.write_text(f"{path.name} {named}\n")
            reply = answer(request, models)
        except (OSError, ValueError, RecursionError):
            reply = {"error": "The request could not be read."}
        rise = peak.rise()
        if rise is not None and rise > request_memory_bytes:
            # What the model allocated may stay with this process (allocator
            # caches, traced graphs): a fresh one should take over.
            reply = {
                "error": (
                    f"The model needs too much memory to try here: about "
                    f"{mib(rise)} for one image, and a prediction may use "
                    f"{mib(request_memory_bytes)}. {SMALLER_MODEL_HINT}"
                ),
                "restart": True,
            }
        _write(folder / "responses" / path.name, reply)
        path.unlink(missing_ok=True)
    except OSError:  # the folder went away under us; the loop ends
        pass
    finally:
        with contextlib.suppress(OSError):
            marker.unlink(missing_ok=True)
