"""When a warm spare may start, be taken or be abandoned: one policy for every host.

A spare (``Spare``) is for idle capacity. Warming one imports Keras and its
backend: seconds of CPU that, when work waits, compete with the jobs
themselves (on a 2-core host a burst of quick jobs ran ten times slower with
spares on). Site workers (``jobs.spare_policy``) and runner
hosts (``dojo_runner.jobs``) keep their spares by these same rules:

- a spare starts only when its slot is idle and no work waits for the host:
  after a job, or later (``spares_keep``) for one a job left wanted when work
  waited, or one that died or aged; meanwhile jobs start cold;
- a job that starts takes its slot's spare only if the spare was started for
  exactly that job's sandbox (``spare_key``) and still waits; any other is
  killed and the job runs cold;
- a job never waits for a spare still warming when it is participant code
  (a training, a check's training): that code may never import what the
  spare warms (a script that stops at once) and would wait seconds for
  nothing. The spare is killed and the job starts cold, as with spares off;
- a spare still warming elsewhere on the host is abandoned (killed, its CPU
  freed) when a job it cannot serve starts, or when work waits; a warm one
  only holds memory and is kept: a job it fits still takes it.

What "work waits" means is the host's to say: a site worker counts its
broker's queues; a runner asks the site for a job without waiting.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping

from ._spare import Spare, SparePool

logger = logging.getLogger(__name__)


def spare_key(seen: Mapping[str, object]) -> str:
    """Return the name of a spare: a digest of everything its job would see.

    ``seen`` holds the job's sandbox arguments (with its own folders replaced
    by fixed ones) and what names its data: two jobs with one key would run
    in the same sandbox, so either may take a spare started for the other.
    """
    return hashlib.sha256(json.dumps(seen, default=str).encode()).hexdigest()


def spare_take(
    pool: SparePool,
    *,
    key: str,
    enabled: bool = True,
    wait_for_warming: bool = False,
    others: Iterable[SparePool] = (),
) -> Spare | None:
    """A job starts in ``pool``'s slot: return the spare started for ``key``, or None.

    ``wait_for_warming``: whether the job may take its spare still warming
    (a grader, which imports Keras anyway); participant code never does.
    Spares of ``others`` still warming are abandoned: they cannot serve this
    job, and it wants their CPU.
    """
    if not wait_for_warming:
        pool.discard_warming()
    spare = pool.take(key) if enabled else None
    for other in others:
        other.discard_warming()
    return spare


def spare_refill(
    pool: SparePool,
    *,
    key: str,
    start: Callable[[], Spare],
    work_waiting: Callable[[], bool],
) -> bool:
    """After a job: start ``pool``'s spare for ``key`` unless work waits.

    Return whether a spare waits or warms for ``key`` now. With work waiting,
    the spare is only remembered: ``spares_keep`` starts it once none waits.
    """
    if work_waiting():
        logger.info("Work waits: no spare yet; the next job starts cold")
        pool.want(key, start)
        return False
    try:
        pool.refill(key, start)
    except Exception:  # never fail a job for its successor's spare
        logger.exception("Could not start a spare; the next job starts cold")
        return False
    return True


def spares_keep(
    pools: Iterable[SparePool],
    *,
    work_waiting: Callable[[], bool],
    busy: bool = False,
) -> None:
    """Abandon spares warming while work waits; start wanted ones when idle.

    ``work_waiting`` is asked only when a spare warms or is due. ``busy``: the
    pools' slot runs a job now (nothing is started meanwhile).
    """
    pools = list(pools)
    warming = [p for p in pools if p.spare is not None and not p.spare_ready()]
    due = [pool for pool in pools if pool.due()]
    if not warming and not due:
        return
    if work_waiting():
        for pool in warming:
            pool.discard_warming()
        return
    if not busy:
        for pool in due:
            try:
                pool.keep()
            except Exception:  # tried again at the next look
                logger.exception("Could not start a spare")
