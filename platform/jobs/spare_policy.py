"""A site worker's spares: a pool per slot and kind; what "work waits" means here.

The rules (when a spare may start, be taken or be abandoned) are the one
policy of every host, in ``workers.sandbox._spare_policy``; runner hosts keep
theirs by the same rules (``dojo_runner.jobs``). Here a slot keeps one spare
of each kind (training, evaluation, a check's training, a check's grading),
they all age by ``DOJO_SPARE_MAX_AGE_SECONDS``, and a job of one kind abandons
the slot's spares of the other kinds still warming. A grading job takes its
warming evaluator: the grader always imports Keras, so the rest of a warm-up
is never slower than cold.

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
    return sandbox.spare_take(
        spare_pool(kind=kind),
        key=key,
        enabled=spares_enabled(kind=kind),
        wait_for_warming=kind not in _PARTICIPANT_CODE,
        others=[
            pool for other, pool in list(_pools.items()) if _JOB[other] != _JOB[kind]
        ],
    )


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
    return sandbox.spare_refill(
        spare_pool(kind=kind), key=key, start=start, work_waiting=_work_waiting_here
    )


def spares_keep() -> None:
    """Abandon spares warming while work waits; start wanted ones when idle."""
    sandbox.spares_keep(
        list(_pools.values()), work_waiting=_work_waiting_here, busy=_busy.is_set()
    )


def _work_waiting_here() -> bool:
    return work_waiting(queues=_queues())


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
