"""A warm spare per worker slot for training and evaluation jobs (see
workers/sandbox/_spare.py), a submission's and a check's alike: a check's are
of their own kinds (``CHECK_TRAIN``, ``CHECK_GRADE``) on its own queue.

A Celery pool process is one slot. After a training job, when nothing waits
on the worker's queues (``spare_policy``: when a spare may start, how old it
may get), it starts a spare for the same assignment: the sandbox the next job
of that assignment would get (every limit, bind, env var, uid and device of
the slot), Keras imported, waiting. The next training job takes it only if its
key matches: the key is a digest of everything the job would see (the arguments
of its sandbox, with the per-job folders left out, and the training split's
files), so a matching spare is exactly that job's sandbox. Any other spare is
discarded and the job runs cold. A spare sees the training split only: it is
planned like a training job.
"""

import os
import uuid
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from jobs.queues import JobQueue
from jobs.spare_policy import SpareKind, spare_refill, spare_take
from workers import sandbox
from workers.evaluation import evaluator_spare
from workshops import folders

# (job dir, work dir) -> (argv, keyword arguments of sandbox.run) for one job.
JobPlan = Callable[[Path, Path], tuple[list[str], dict]]

# A process that imported TensorFlow holds about 690 MB (NOTES.md): the cost of
# one spare, said when the worker starts. Other backends: rough figures.
SPARE_MEMORY_MB = {"tensorflow": 700, "jax": 600, "torch": 900}


def spares_describe(*, slots: int) -> str:
    """Return the worker's start notice: how many spares it keeps, their cost."""
    if not settings.DOJO_SPARES:
        return "Warm spares: off (DOJO_SPARES=false); every job starts cold."
    each = SPARE_MEMORY_MB.get(settings.DOJO_KERAS_BACKEND, 700)
    return (
        f"Warm spares: one per slot and kind of job it serves (training, "
        f"evaluation), {slots} slots, about {each} MB each with Keras on "
        f"{settings.DOJO_KERAS_BACKEND} imported (about {slots * each} MB per "
        f"kind); one unused for {settings.DOJO_SPARE_MAX_AGE_SECONDS} s is replaced. "
        "A spare starts only when nothing waits on this worker's queues."
    )


def training_spare_key(*, train: Path, plan: JobPlan) -> str:
    """Return a digest of everything a training job planned by ``plan`` sees.

    ``train``: the folder it sees as /data (the assignment's training split,
    or a check's slice of it), by its files' names, sizes and times.
    """
    argv, kwargs = plan(Path("/spare-job-dir"), Path("/spare-work-dir"))
    files = sorted(
        (p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in train.iterdir()
    )
    return sandbox.spare_key({"argv": argv, "kwargs": kwargs, "data": files})


def training_spare_take(
    *, key: str, kind: SpareKind = SpareKind.TRAIN
) -> sandbox.Spare | None:
    """Return this slot's spare of ``kind`` if it was started for ``key``; else None."""
    return spare_take(kind=kind, key=key)


def training_spare_refill(
    *,
    key: str,
    plan: JobPlan,
    queue: str,
    kind: SpareKind = SpareKind.TRAIN,
    name: str = "spare",
) -> bool:
    """After a training job on ``queue``: start the slot's spare, if nothing waits.

    ``kind``: a submission's training or a check's (``CHECK_TRAIN``, on
    while ``DOJO_CHECK_SPARES``); ``name``: how its folders are named.
    """
    return spare_refill(
        kind=kind,
        key=key,
        start=lambda: _spare_start(key, plan, name),
        queue=queue,
    )


def training_folders(*, spare: sandbox.Spare | None, name: str) -> tuple[Path, Path]:
    """Return a training's (job dir, work dir): the spare's, or new ones named ``name``.

    The work dir holds ``output``, where the job saves what it gives back.
    """
    if spare is not None:
        job, work = spare.owned
        return job, work
    job, work = folders.work_dir(f"{name}-job"), folders.work_dir(name)
    (work / "output").mkdir()
    return job, work


def _spare_start(key: str, plan: JobPlan, name: str) -> sandbox.Spare:
    job, work = training_folders(
        spare=None, name=f"{name}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    )
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
    return sandbox.spare_key({"folders": folders, "files": files, "kwargs": kwargs})


def evaluation_spare_take(
    *, key: str, kind: SpareKind = SpareKind.EVALUATE
) -> sandbox.Spare | None:
    """Return this slot's warm evaluator of ``kind`` if it was started for ``key``."""
    return spare_take(kind=kind, key=key)


def evaluation_spare_refill(
    *,
    key: str,
    folders: list[str],
    grader: dict,
    longest_seconds: int | None = None,
    kind: SpareKind = SpareKind.EVALUATE,
    queue: str = JobQueue.EVALUATE,
) -> bool:
    """Start this slot's next warm evaluator, ``grader``'s sandbox on ``folders``.

    Only if nothing waits on this worker's queues (``spare_policy``).

    It serves the next evaluation or regrade chunk of the same data (``kind``
    ``CHECK_GRADE`` after a check, on ``queue`` ``check``: the next check's
    grading). Its CPU limit, fixed at start, is sized for what left it: one
    evaluation (``grader``'s wall budget), or a chunk (``longest_seconds``, a
    chunk's wall budget); each run brings its own wall budget at the handover.
    """
    return spare_refill(
        kind=kind,
        key=key,
        start=lambda: evaluator_spare(
            name=f"eval-spare-{os.getpid()}-{uuid.uuid4().hex[:12]}",
            data_folders=folders,
            key=key,
            longest_seconds=longest_seconds,
            **grader,
        ),
        queue=queue,
    )
