"""Warm spares on a runner host: each slot keeps one for a job like its last.

A spare (``workers.sandbox.Spare``) is the sandbox a job would get, started
ahead: limits applied, Keras and its backend imported, waiting for the job's
script. A runner keeps them by the one spare policy of every host
(``workers.sandbox._spare_policy``), as a site worker does:

- after a job, a slot remembers the sandbox it ran (its plan: the training
  split it bound, cached by digest, its limits, uid and environment). Before
  its next long poll it asks the site for a job without waiting; only when
  none waits does it start the spare (``keep``), then wait for work. A spare
  that died, was abandoned or grew older than its max age is started again
  the same way;
- a job takes its slot's spare only if the spare was started for exactly the
  sandbox the job would get (``spare_key``); any other is killed, and the job
  runs cold. A job never waits for a spare still warming: it is killed, and
  the job runs cold. A job that starts also kills every other slot's spare
  still warming (the runner has work: their CPU is wanted); warm ones only
  hold memory and stay;
- ``--no-spares`` starts none: every job runs cold.

The spare's folder (the job's script folder and its work dir) is its own:
a job that takes it writes its script there; one never used is removed with
it.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from workers import sandbox

logger = logging.getLogger(__name__)

# folder -> (argv, the keyword arguments of sandbox.run) of one job there.
JobPlan = Callable[[Path], tuple[list[str], dict]]

# A job's sandbox is planned in a folder of its own; a key names it with this
# one instead, so that two jobs with one key see exactly the same.
KEY_FOLDER = Path("/dojo-spare-key")

# A process that imported TensorFlow holds about 690 MB (NOTES.md).
SPARE_MEMORY_MB = 700


@dataclass(frozen=True)
class SpareSettings:
    """Whether a runner keeps spares, how long one may wait, what it warms."""

    # Off for a JobRunner made without settings; the command's --spares is on.
    enabled: bool = False
    max_age_seconds: float = 900.0
    # Keras imports the backend the job's environment names.
    warm: tuple[str, ...] = ("keras",)
    # Run once warm, before waiting (tests make a spare that never gets warm).
    prelude: str = ""

    def describe(self) -> dict:
        """Return what the runner reports of its spares when it registers."""
        return {
            "enabled": self.enabled,
            "max_age_seconds": int(self.max_age_seconds),
            "memory_mb_each": SPARE_MEMORY_MB if self.enabled else 0,
        }


def job_folders(folder: Path) -> tuple[Path, Path]:
    """Make a job's folders: its script's (bound at /job) and its work dir."""
    job_dir, work = folder / "job", folder / "run"
    (work / "output").mkdir(parents=True)
    job_dir.mkdir()
    for path in (folder, job_dir):
        path.chmod(0o755)
    return job_dir, work


def plan_key(plan: JobPlan) -> str:
    """Return the key of the sandbox ``plan`` makes: the same for the same job."""
    argv, kwargs = plan(KEY_FOLDER)
    return sandbox.spare_key({"argv": argv, "kwargs": kwargs})


class RunnerSpares:
    """One spare pool per slot of this runner, kept by the one policy."""

    def __init__(self, *, settings: SpareSettings, work: Path) -> None:
        self.settings = settings
        self.work = work
        self._pools: dict[int, sandbox.SparePool] = {}
        self._lock = threading.Lock()

    def pool(self, slot: int) -> sandbox.SparePool:
        """Return the pool of ``slot`` (for reports and tests)."""
        with self._lock:
            if slot not in self._pools:
                self._pools[slot] = sandbox.SparePool(
                    enabled=self.settings.enabled,
                    max_age=self.settings.max_age_seconds,
                )
            return self._pools[slot]

    def take(self, slot: int, key: str) -> sandbox.Spare | None:
        """A job starts in ``slot``: return its spare if started for ``key``.

        The job is participant code: it never waits for a spare still warming.
        Other slots' spares still warming are killed: this runner has work.
        """
        pool = self.pool(slot)
        with self._lock:
            others = [p for s, p in self._pools.items() if s != slot]
        return sandbox.spare_take(
            pool, key=key, enabled=self.settings.enabled, others=others
        )

    def want(self, slot: int, key: str, plan: JobPlan) -> None:
        """After a job: remember ``plan`` as the sandbox of ``slot``'s next spare."""
        if self.settings.enabled:
            self.pool(slot).want(key, lambda: self._start(plan, key))

    def due(self, slot: int) -> bool:
        """Return whether ``slot`` wants a spare started (none waits, or it aged)."""
        return self.pool(slot).due()

    def keep(self, slot: int) -> None:
        """The site has no job for this runner now: start ``slot``'s wanted spare."""
        sandbox.spares_keep([self.pool(slot)], work_waiting=lambda: False)

    def close(self) -> None:
        """Kill every spare and start none from now on."""
        with self._lock:
            pools = list(self._pools.values())
        for pool in pools:
            pool.close()

    def _start(self, plan: JobPlan, key: str) -> sandbox.Spare:
        folder = self.work / f"spare-{uuid.uuid4().hex[:12]}"
        logger.info("Starting a warm spare in %s", folder.name)
        folder.mkdir()
        try:
            job_folders(folder)
            argv, kwargs = plan(folder)
            prelude = self.settings.prelude
            if not prelude and kwargs.get("devices"):
                # A GPU job's spare starts CUDA too, as a site worker's does.
                backend = kwargs["env"].get("KERAS_BACKEND", "")
                prelude = sandbox.CUDA_PRELUDE.get(backend, "")
            return sandbox.Spare(
                argv,
                **kwargs,
                warm=self.settings.warm,
                prelude=prelude,
                key=key,
                owned=(folder,),
            )
        except BaseException:
            sandbox.remove_tree(folder)
            raise
