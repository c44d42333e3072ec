"""Keep a warm predictor sandbox and ask it about one image (no Django here).

The predictor is ``python -m grader serve`` in an evaluation sandbox: the
grader, the model files the worker copies in, and nothing else. It starts once
per worker process (TensorFlow's import and the model load are paid once),
answers through files in its work folder, and stops itself when idle; the next
request starts it again. Everything it writes back is checked here.

A model the predictor refused (too slow to load, too greedy, broken) is
remembered here too, so that it is refused at once, without a copy or a
predictor, even after the predictor was replaced.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from workers import sandbox
from workers.predictor_files import ModelFiles, ModelsBusy, ModelTooLarge
from workers.predictor_replies import (
    EXPLAIN_REPLY_BYTES,
    MAPS_REPLY_BYTES,
    REPLY_BYTES,
    PredictorBusy,
    PredictorError,
    PredictorOverMemory,
    parse_explain_reply,
    parse_maps_reply,
    parse_reply,
    read_bounded,
    refusal_reason,
    working_model,
)

logger = logging.getLogger(__name__)

GRADER_DIR = Path(__file__).resolve().parents[1] / "grader"
POLL_SECONDS = 0.002
START_SECONDS = 120.0
# Bytes of model files kept in the predictor's folder (a sized tmpfs): the
# least recently asked-about go first, so a copy never meets a full folder. The
# folder is this plus room for requests and answers, and holds one model of the
# grader's largest (256 MiB) with room to spare.
MODELS_BYTES = 448 * 2**20
FOLDER_SPARE_BYTES = 64 * 2**20
# How long the predictor may take to load one model before it refuses it.
LOAD_SECONDS = 8.0
# Models the predictor refused (or that went past a request's memory budget),
# refused here without asking a predictor again.
REFUSED_KEPT = 256
# How long one request may hold the predictor, as a multiple of the load
# budget: its load, then one answer. A model still being worked on past it when
# some request's wait runs out is the one blamed (``_exchange``); a request may
# wait twice the load budget (``predictor_load_check``), so a model alone in
# the queue is always past this when its own wait runs out.
HOLD_LOADS = 1.5
RESTARTED = "The predictor was restarted; try again."


def predictor_load_check(*, load_seconds: float, timeout_seconds: float) -> None:
    """Raise ValueError unless a model's load budget fits twice in an answer's.

    A request may wait behind another model's load, then pay for its own: both
    must fit in the time the page waits, or the answer comes too late to show.
    """
    if not 0 < load_seconds or 2 * load_seconds > timeout_seconds:
        raise ValueError(
            f"A model's load budget ({load_seconds:g} s) must be positive and at "
            f"most half the time an answer may take ({timeout_seconds:g} s)."
        )


def predictor_memory_check(*, memory_bytes: int, request_memory_bytes: int) -> None:
    """Raise ValueError unless one request's budget fits well inside the sandbox.

    The predictor itself (TensorFlow, the models it keeps) needs room of its
    own: a budget of half the sandbox or more would let one request get the
    process killed before its peak could be checked.
    """
    if memory_bytes <= 0 or request_memory_bytes <= 0:
        raise ValueError(
            "The predictor's memory and its per-request memory budget must be "
            f"positive (got {memory_bytes} and {request_memory_bytes} bytes)."
        )
    if 2 * request_memory_bytes > memory_bytes:
        raise ValueError(
            f"The per-request memory budget ({request_memory_bytes // 2**20} MiB) "
            "must be at most half the predictor's memory "
            f"({memory_bytes // 2**20} MiB)."
        )


@dataclass
class WarmPredictor:
    """One sandboxed predictor process, started on demand and kept warm."""

    work_root: Path
    backend: str
    env: Mapping[str, str]
    idle_seconds: float = 600.0
    memory_bytes: int = 3 * 1024**3
    request_memory_bytes: int = 1024**3
    load_seconds: float = LOAD_SECONDS
    models_bytes: int = MODELS_BYTES
    _folder: Path | None = field(default=None, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    _result: sandbox.SandboxResult | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _files: ModelFiles | None = field(default=None, init=False)
    _kill: threading.Event = field(default_factory=threading.Event, init=False)
    _refused: OrderedDict[str, str] = field(default_factory=OrderedDict, init=False)
    # Requests this worker has handed to the predictor and not yet read back:
    # file name -> model key (what a "working" marker may name).
    _asked: dict[str, str] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        predictor_memory_check(
            memory_bytes=self.memory_bytes,
            request_memory_bytes=self.request_memory_bytes,
        )

    @property
    def running(self) -> bool:
        """Return whether the sandbox process is alive."""
        return self._thread is not None and self._thread.is_alive()

    def _start(self) -> None:
        folder = (
            Path(self.work_root) / f"predictor-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        )
        sandbox.claim_work_dir(folder)
        limits = sandbox.SandboxLimits(
            wall_seconds=self.idle_seconds * 6,
            cpu_seconds=self.idle_seconds * 6,
            memory_bytes=self.memory_bytes,
            work_dir_bytes=self.models_bytes + FOLDER_SPARE_BYTES,
        )
        # Mount the sized work dir before writing requests into it: run() would
        # otherwise mount it while predict() writes, hiding or losing a request.
        sandbox.prepare_work_dir(folder, limits=limits, backend=self.backend)
        for sub in ("models", "requests", "responses"):
            (folder / sub).mkdir(parents=True)
        self._folder, self._result = folder, None
        self._files = ModelFiles(folder / "models", budget_bytes=self.models_bytes)
        kill = self._kill = threading.Event()

        def run() -> None:
            try:
                self._result = sandbox.run(
                    [
                        "python",
                        "-m",
                        "grader",
                        "serve",
                        "--dir",
                        str(folder),
                        "--idle",
                        str(self.idle_seconds),
                        "--request-memory-mb",
                        str(max(1, self.request_memory_bytes // 2**20)),
                        "--load-seconds",
                        str(self.load_seconds),
                    ],
                    work_dir=folder,
                    binds=[sandbox.Bind(GRADER_DIR, "/opt/dojo/grader")],
                    env={**self.env, "PYTHONPATH": "/opt/dojo"},
                    limits=limits,
                    backend=self.backend,
                    chdir=str(folder),
                    # Stopped when a request overran its budget, or when the
                    # folder is gone (no request can reach it any more).
                    should_cancel=lambda: kill.is_set() or not folder.is_dir(),
                )
            finally:
                # The folder is a sized tmpfs mount: only remove_tree detaches it.
                try:
                    sandbox.release_work_dir(folder)
                except sandbox.CleanupError:
                    logger.exception("Could not remove %s", folder)

        self._thread = threading.Thread(target=run, name="predictor", daemon=True)
        self._thread.start()

    def start(self) -> None:
        """Start the sandbox now (TensorFlow's import) unless it runs already."""
        self._ensure()

    def _ensure(self) -> tuple[Path, ModelFiles]:
        with self._lock:
            gone = self._folder is None or not self._folder.is_dir()
            if not self.running or gone or self._kill.is_set():
                self._start()
            assert self._folder is not None and self._files is not None
            return self._folder, self._files

    def predict(
        self,
        *,
        model_path: Path,
        key: str,
        pixels: str,
        num_classes: int,
        timeout: float,
    ) -> list[tuple[int, float]]:
        """Return the top classes and probabilities for one image (base64 bytes).

        A predictor still starting (TensorFlow's import) gets ``START_SECONDS``
        more than ``timeout``. A model the predictor refuses (too slow to load,
        too greedy, broken) is refused from then on; a request past its memory
        budget also has its predictor replaced at once.
        """
        request = {"model": key, "pixels": pixels}
        data = self._ask(request, model_path=model_path, timeout=timeout)
        return parse_reply(data, num_classes=num_classes)

    def feature_maps(
        self, *, model_path: Path, key: str, pixels: str, timeout: float
    ) -> tuple[list[int], list[str]]:
        """Return (size, maps) of the model's first Conv2D on one image."""
        request = {"model": key, "pixels": pixels, "maps": True}
        data = self._ask(
            request, model_path=model_path, timeout=timeout, limit=MAPS_REPLY_BYTES
        )
        return parse_maps_reply(data)

    def explain(
        self,
        *,
        model_path: Path,
        key: str,
        pixels: str,
        num_classes: int,
        length: int,
        timeout: float,
    ) -> dict:
        """Return which words of one sentence (``"t:"`` word ids) moved the
        prediction, and the nearest words in the model's embedding, checked."""
        request = {"model": key, "pixels": pixels, "explain": True}
        data = self._ask(
            request, model_path=model_path, timeout=timeout, limit=EXPLAIN_REPLY_BYTES
        )
        return parse_explain_reply(data, num_classes=num_classes, length=length)

    def _ask(
        self,
        request: dict,
        *,
        model_path: Path,
        timeout: float,
        limit: int = REPLY_BYTES,
    ) -> bytes:
        """Hand ``request`` to the predictor; return its reply's bytes, bounded.

        A reply that refuses the model raises ``PredictorError`` and the model
        is refused here from then on; one saying the request passed its memory
        budget raises ``PredictorOverMemory`` and the predictor is replaced.
        """
        key = request["model"]
        if key in self._refused:
            raise PredictorError(self._refused[key])
        folder, files = self._ensure()
        starting = not (folder / "ready").is_file()
        deadline = time.monotonic() + timeout + (START_SECONDS if starting else 0)
        # Write nothing before the predictor says it is ready: until then the
        # sandbox may be turning its folder into a tmpfs (moving what it holds).
        self._wait_for(folder / "ready", deadline=deadline)
        with files.in_use(key):
            try:
                files.place(key=key, source=model_path)
            except ModelTooLarge as exc:
                self._refuse(key, str(exc))
                raise PredictorError(str(exc)) from None
            except ModelsBusy as exc:
                raise PredictorBusy(str(exc)) from None
            try:
                data = self._exchange(folder, request, deadline=deadline, limit=limit)
            except PredictorError:
                # Another request's wait may have found this model to blame.
                if key in self._refused:
                    raise PredictorError(self._refused[key]) from None
                raise
        refusal = refusal_reason(data)
        if refusal is None:
            return data
        reason, restart = refusal
        self._refuse(key, reason)
        if restart:
            # Start the replacement now, so the next participant waits less.
            self._kill.set()
            self._ensure()
            raise PredictorOverMemory(reason)
        raise PredictorError(reason)

    def _exchange(
        self, folder: Path, request: dict, *, deadline: float, limit: int
    ) -> bytes:
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.json"
        asked = folder / "requests" / name
        staged = asked.with_name(f".{name}.tmp")
        staged.write_text(json.dumps(request))
        os.chmod(staged, 0o644)
        os.replace(staged, asked)
        reply = folder / "responses" / name
        with self._lock:
            self._asked[name] = request["model"]
        try:
            self._wait_for(reply, deadline=deadline)
        except PredictorError:
            asked.unlink(missing_ok=True)
            if self.running and (folder / "ready").is_file():
                # Ready but silent past the budget: a model holds it. Stop it
                # so the next request (anyone's) gets a fresh predictor.
                self._blame(folder)
            raise
        finally:
            with self._lock:
                self._asked.pop(name, None)
        try:
            return read_bounded(reply, limit=limit)
        finally:
            reply.unlink(missing_ok=True)

    def _blame(self, folder: Path) -> None:
        """Stop a predictor that kept a request waiting past its budget.

        The model it is working on (its "working" marker), if that one has
        held it past what a load and an answer may take, is refused from then
        on and a replacement started at once; a request that merely waited
        behind it is told the predictor was restarted.
        """
        held = HOLD_LOADS * self.load_seconds
        with self._lock:
            asked = dict(self._asked)
        key = working_model(folder / "working", asked=asked, held_seconds=held)
        self._kill.set()
        if key is None:
            return
        self._refuse(
            key,
            f"Your model took longer than {held:g} s to answer one prediction; "
            "make it smaller or faster and submit it again.",
        )
        self._ensure()
        raise PredictorBusy(RESTARTED)

    def _refuse(self, key: str, reason: str) -> None:
        with self._lock:
            self._refused[key] = reason
            while len(self._refused) > REFUSED_KEPT:
                self._refused.popitem(last=False)

    def _wait_for(self, path: Path, *, deadline: float) -> None:
        # The predictor this request went to: stopped on purpose (another
        # request's model blamed, or over its budget), it was restarted for
        # everyone else, which is not "the predictor stopped" (seen under load,
        # before its replacement was running).
        kill = self._kill
        while not path.is_file():
            if not path.parent.is_dir() or kill.is_set():
                raise PredictorBusy(RESTARTED)
            if not self.running:
                raise PredictorError(self._stopped_reason())
            if time.monotonic() > deadline:
                raise PredictorBusy("The predictor did not answer in time.")
            time.sleep(POLL_SECONDS)

    def _stopped_reason(self) -> str:
        result = self._result
        if result is None:
            return "The predictor stopped."
        if result.outcome == sandbox.Outcome.KILLED_MEMORY:
            return "The model needs more memory than the predictor has."
        tail = result.log.strip().splitlines()[-1:] or [str(result.outcome)]
        return f"The predictor stopped: {tail[0][:200]}"

    def close(self, *, wait_seconds: float = 3.0) -> None:
        """End the sandbox now (the worker stops) and wait for its folder's release."""
        self._kill.set()
        if self._thread is not None:
            self._thread.join(timeout=wait_seconds)

    def stop(self) -> None:
        """Ask the predictor to exit and wait briefly for it to release its folder."""
        if self._folder is not None and self.running:
            with contextlib.suppress(OSError):  # the sandbox may be gone already
                (self._folder / "stop").touch()
        if self._thread is not None:
            self._thread.join(timeout=10)
