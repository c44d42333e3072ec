"""When a warm spare may start and how old it may get: one policy for every kind.

A spare (``workers.sandbox.Spare``) is for idle capacity. Warming one imports
Keras and its backend: seconds of CPU that, when work queues, compete with the
jobs themselves (on a 2-core host a burst of quick jobs ran ten times slower
with spares on). So, for every kind of spare a slot keeps (training, evaluation,
a check's training, a check's grading):

- a spare starts only when its slot is idle and nothing waits on this
  worker's queues: after a job, or later (a thread of the slot starts the one
  a job left wanted when work waited); meanwhile jobs start cold;
- a spare still warming is abandoned (killed, its CPU freed) when a job of
  another kind starts in its slot, or when work waits on the worker's queues;
  a warm one only holds memory and is kept: a job it fits still takes it;
- a job never waits for a spare of its own kind still warming when the job is
  participant code (a training, a check's training): that code may never
  import what the spare warms (a script that stops at once), and would then
  wait seconds for nothing. The spare is abandoned and the job starts cold,
  as with spares off. A grading job takes its warming evaluator: the grader
  always imports Keras, so the rest of a warm-up is never slower than cold;
- a dead or aged spare (``DOJO_SPARE_MAX_AGE_SECONDS``) is replaced, and an
  abandoned one started again, on the same terms;
- it warms at a lower CPU priority (``workers.sandbox._spare.SPARE_NICE``).

"Work waiting" is the broker's own count of messages not yet taken by any
worker (``workers.broker.queued_messages``): LLEN on Redis, visible rows on the
embedded broker, one cheap query either way, and exact about this worker's
queues. Queued rows in the database are not: they do not say which queue (CPU
or GPU, another worker's) a job is on, and they count jobs already reserved by
a worker. A broker that does not answer counts as busy: no spare.
"""

import logging
import threading
from collections.abc import Callable, Iterable
from enum import StrEnum

from django.conf import settings

from workers import sandbox
from workers.broker import queued_messages

logger = logging.getLogger(__name__)

KEEP_EVERY_SECONDS = 1.0


class SpareKind(StrEnum):
    """The spares a slot may keep, one of each at most."""

    TRAIN = "train"
    EVALUATE = "evaluate"
    CHECK_TRAIN = "check-train"
    CHECK_GRADE = "check-grade"


_CHECK_KINDS = (SpareKind.CHECK_TRAIN, SpareKind.CHECK_GRADE)
# Kinds whose job runs participant code, which may never import what is warmed.
_PARTICIPANT_CODE = (SpareKind.TRAIN, SpareKind.CHECK_TRAIN)
# The job each kind serves: a check takes both of its spares, one after the other.
_JOB = {
    SpareKind.TRAIN: "train",
    SpareKind.EVALUATE: "evaluate",
    SpareKind.CHECK_TRAIN: "check",
    SpareKind.CHECK_GRADE: "check",
}

# One set per pool process (a Celery prefork child is one slot).
_pools: dict[SpareKind, sandbox.SparePool] = {}
_lock = threading.Lock()
# The queues this worker consumes (set in the worker's parent, inherited by its
# pool processes), and those named by the jobs that refilled here.
_worker_queues: tuple[str, ...] = ()
_job_queues: set[str] = set()
_busy = threading.Event()
_keeper: list[threading.Thread] = []


def spares_enabled(*, kind: SpareKind) -> bool:
    """Return whether spares of ``kind`` are on (DOJO_SPARES, DOJO_CHECK_SPARES)."""
    if kind in _CHECK_KINDS:
        return bool(settings.DOJO_CHECK_SPARES)
    return bool(settings.DOJO_SPARES)


def spare_max_age_seconds() -> float:
    """Return how long an unused spare may wait before it is replaced."""
    return float(settings.DOJO_SPARE_MAX_AGE_SECONDS)


def spare_policy_serve(*, queues: Iterable[str]) -> None:
    """Name the queues this worker consumes: work on any of them stops spares."""
    global _worker_queues
    _worker_queues = tuple(queues)


def spare_slot_busy(*, busy: bool) -> None:
    """Say whether this slot runs a task (no spare is replaced meanwhile)."""
    if busy:
        _busy.set()
    else:
        _busy.clear()


def _queues() -> tuple[str, ...]:
    return _worker_queues or tuple(sorted(_job_queues))


def work_waiting(*, queues: Iterable[str]) -> bool:
    """Return whether a message waits on ``queues``; True if the broker is away."""
    names = tuple(queues)
    if not names:
        return False
    try:
        return (
            queued_messages(
                broker_url=settings.CELERY_BROKER_URL,
                transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
                queues=names,
            )
            > 0
        )
    except Exception:  # a spare is an optimisation: when in doubt, none
        logger.warning("Could not count queued work; starting no spare", exc_info=True)
        return True


def spare_pool(*, kind: SpareKind) -> sandbox.SparePool:
    """Return this slot's pool of ``kind``; the first one starts the keeper."""
    with _lock:
        if kind not in _pools:
            if not _keeper:
                _keeper.append(
                    threading.Thread(
                        target=_keep_forever, name="dojo-spares", daemon=True
                    )
                )
                _keeper[0].start()
            _pools[kind] = sandbox.SparePool(
                enabled=spares_enabled(kind=kind), max_age=spare_max_age_seconds()
            )
        return _pools[kind]


def slot_spare(*, kind: SpareKind) -> sandbox.Spare | None:
    """Return the spare of ``kind`` waiting in this slot, if any (reports, tests)."""
    pool = _pools.get(kind)
    return pool.spare if pool is not None else None


def spare_take(*, kind: SpareKind, key: str) -> sandbox.Spare | None:
    """Return this slot's spare of ``kind`` if started for ``key``, else None.

    A job starts here: this slot's spares for other jobs that are still
    warming are abandoned, as none of them can serve it; so is its own kind's
    when the job is participant code (it might wait for imports it never
    makes).
    """
    pool = spare_pool(kind=kind)
    if kind in _PARTICIPANT_CODE:
        pool.discard_warming()
    spare = pool.take(key) if spares_enabled(kind=kind) else None
    for other, pool in list(_pools.items()):
        if _JOB[other] != _JOB[kind]:
            pool.discard_warming()
    return spare


def spare_refill(
    *,
    kind: SpareKind,
    key: str,
    start: Callable[[], sandbox.Spare],
    queue: str,
) -> bool:
    """After a job on ``queue``: start the slot's spare for ``key`` if nothing waits.

    Return whether a spare waits or warms for ``key`` now. With work waiting
    on this worker's queues the next job starts cold instead, and the spare is
    started once the slot is idle and nothing waits (``spares_keep``).
    """
    if not spares_enabled(kind=kind):
        return False
    _job_queues.add(str(queue))
    pool = spare_pool(kind=kind)
    if work_waiting(queues=_queues()):
        logger.info("Work waits on %s: no %s spare yet", ", ".join(_queues()), kind)
        pool.want(key, start)
        return False
    try:
        pool.refill(key, start)
    except Exception:  # never fail a job for its successor's spare
        logger.exception("Could not start a %s spare; the next job starts cold", kind)
        return False
    return True


def spares_keep() -> None:
    """Abandon spares warming while work waits; start wanted ones when idle."""
    pools = list(_pools.values())
    warming = [p for p in pools if p.spare is not None and not p.spare_ready()]
    due = [pool for pool in pools if pool.due()]
    if not warming and not due:
        return
    if work_waiting(queues=_queues()):
        for pool in warming:
            pool.discard_warming()
        return
    if not _busy.is_set():
        for pool in due:
            try:
                pool.keep()
            except Exception:  # retried at the next beat
                logger.exception("Could not start a spare")


def _keep_forever() -> None:
    while not threading.Event().wait(KEEP_EVERY_SECONDS):
        try:
            spares_keep()
        except Exception:  # retried at the next beat; never stops the worker
            logger.exception("Could not look after this slot's spares")


def spares_discard() -> None:
    """Discard every spare of this process (tests, worker shutdown)."""
    with _lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.close()
