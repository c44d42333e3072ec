"""A warm spare per worker slot for training jobs (see workers/sandbox/_spare.py).

A Celery pool process is one slot. After each training job it starts a spare
for the same assignment: the sandbox the next job of that assignment would get
(every limit, bind, env var, uid and device of the slot), Keras imported,
waiting. The next training job takes it only if its key matches: the key is a
digest of everything the job would see (the arguments of its sandbox, with the
per-job folders left out, and the training split's files), so a matching spare
is exactly that job's sandbox. Any other spare is discarded and the job runs
cold. A spare sees the training split only: it is planned like a training job.
"""

import hashlib
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from workers import sandbox
from workers.evaluation import evaluator_spare
from workshops import folders

logger = logging.getLogger(__name__)

# (job dir, work dir) -> (argv, keyword arguments of sandbox.run) for one job.
JobPlan = Callable[[Path, Path], tuple[list[str], dict]]

# A process that imported TensorFlow holds about 690 MB (NOTES.md): the cost of
# one spare, said when the worker starts. Other backends: rough figures.
SPARE_MEMORY_MB = {"tensorflow": 700, "jax": 600, "torch": 900}
KEEP_EVERY_SECONDS = 5.0

_pools: dict[str, sandbox.SparePool] = {}


def spares_describe(*, slots: int) -> str:
    """Return the worker's start notice: how many spares it keeps, their cost."""
    if not settings.DOJO_SPARES:
        return "Warm spares: off (DOJO_SPARES=false); every job starts cold."
    each = SPARE_MEMORY_MB.get(settings.DOJO_KERAS_BACKEND, 700)
    return (
        f"Warm spares: one per slot and kind of job it serves (training, "
        f"evaluation), {slots} slots, about {each} MB each with Keras on "
        f"{settings.DOJO_KERAS_BACKEND} imported (about {slots * each} MB per "
        f"kind); one unused for {settings.DOJO_SPARE_MAX_AGE_SECONDS} s is replaced."
    )


def _slot_pool(kind: str = "train") -> sandbox.SparePool:
    """Return this slot's pool for ``kind`` (train or evaluate), started once."""
    if kind not in _pools:
        pool = sandbox.SparePool(
            enabled=settings.DOJO_SPARES,
            max_age=float(settings.DOJO_SPARE_MAX_AGE_SECONDS),
        )
        threading.Thread(target=_keep, args=(pool,), daemon=True).start()
        _pools[kind] = pool
    return _pools[kind]


def spares_discard() -> None:
    """Discard every spare of this process (tests, worker shutdown)."""
    for pool in _pools.values():
        pool.discard()
    _pools.clear()


def _keep(pool: sandbox.SparePool) -> None:
    """Replace a spare that died or aged while waiting; nobody is charged."""
    while not threading.Event().wait(KEEP_EVERY_SECONDS):
        try:
            pool.keep()
        except Exception:  # retried at the next beat; never stops the worker
            logger.exception("Could not replace a spare")


def training_spare_key(*, assignment_id: int, plan: JobPlan) -> str:
    """Return a digest of everything a training job planned by ``plan`` sees."""
    argv, kwargs = plan(Path("/spare-job-dir"), Path("/spare-work-dir"))
    train = folders.assignment_train_dir(assignment_id)
    files = sorted(
        (p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in train.iterdir()
    )
    seen = {"argv": argv, "kwargs": kwargs, "data": files}
    return hashlib.sha256(json.dumps(seen, default=str).encode()).hexdigest()


def training_spare_take(*, key: str) -> sandbox.Spare | None:
    """Return this slot's spare if it was started for ``key``; else None."""
    if not settings.DOJO_SPARES:
        return None
    return _slot_pool().take(key)


def training_spare_refill(*, key: str, plan: JobPlan) -> None:
    """Start this slot's next spare for ``key``; a failure only means cold."""
    if not settings.DOJO_SPARES:
        return
    try:
        _slot_pool().refill(key, lambda: _spare_start(key, plan))
    except Exception:
        logger.exception("Could not start a spare; the next job starts cold")


def _spare_start(key: str, plan: JobPlan) -> sandbox.Spare:
    name = f"spare-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    job, work = folders.work_dir(f"{name}-job"), folders.work_dir(name)
    (work / "output").mkdir()  # where the training job saves its model
    argv, kwargs = plan(job, work)
    gpu = bool(kwargs.get("devices"))
    prelude = sandbox.CUDA_PRELUDE.get(settings.DOJO_KERAS_BACKEND, "") if gpu else ""
    try:
        return sandbox.Spare(
            argv, **kwargs, prelude=prelude, key=key, owned=(job, work)
        )
    except BaseException:
        folders.discard(job)
        folders.discard(work)
        raise


def evaluation_spare_key(*, folders: list[str], kwargs: dict) -> str:
    """Return a digest of what an evaluation sandbox sees: folders, files, args."""
    files = sorted(
        (str(p), p.stat().st_size, p.stat().st_mtime_ns)
        for folder in folders
        for p in Path(folder).iterdir()
    )
    seen = {"folders": folders, "files": files, "kwargs": kwargs}
    return hashlib.sha256(json.dumps(seen, default=str).encode()).hexdigest()


def evaluation_spare_take(*, key: str) -> sandbox.Spare | None:
    """Return this slot's warm evaluator if it was started for ``key``."""
    if not settings.DOJO_SPARES:
        return None
    return _slot_pool("evaluate").take(key)


def evaluation_spare_refill(
    *, key: str, folders: list[str], grader: dict, longest_seconds: int | None = None
) -> None:
    """Start this slot's next warm evaluator: ``grader``'s sandbox on ``folders``.

    It serves the next evaluation or regrade chunk of the same data. Its CPU
    limit, fixed at start, is sized for what left it: one evaluation
    (``grader``'s wall budget), or a chunk (``longest_seconds``, a chunk's
    wall budget); each run brings its own wall budget at the handover.
    """
    if not settings.DOJO_SPARES:
        return
    try:
        name = f"eval-spare-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        _slot_pool("evaluate").refill(
            key,
            lambda: evaluator_spare(
                name=name,
                data_folders=folders,
                key=key,
                longest_seconds=longest_seconds,
                **grader,
            ),
        )
    except Exception:
        logger.exception("Could not start a warm evaluator; the next one is cold")


def spare_dirs(spare: sandbox.Spare) -> tuple[Path, Path]:
    """Return (job dir, work dir) of a spare started here."""
    job, work = spare.owned
    return job, work
