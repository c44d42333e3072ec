"""The sandbox's configuration: one validated object, set once at worker start.

The worker builds it from its settings (`config.celery_app`, from Django's
settings, which read the environment) and hands it over with
`sandbox_configure`; the supervisor-side modules read `sandbox_config()` and
never the environment, and nothing here writes the environment. Code that runs
inside a job (the device report, the runner) reads its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._limits import SandboxUnavailable

DEFAULT_UID = 65534
CGROUP_MODES = ("auto", "v1", "v2", "none")
# A job's CPU weight against the host's own processes (the site's web and
# database, the worker's bookkeeping), in cgroup v2's terms: 100 is a process's
# own, 1 the least. Jobs yield to the pages: when the room uploads at once on
# the site's host, uploads and pages are answered first and the queued jobs
# use every cycle left (the scheduler never leaves a core idle for a weight).
# Between jobs it changes nothing: all have the same. The class burst on a
# 2-core host: upload p95 0.67 and 0.88 s at this weight, 0.8 to 2.2 s at 100,
# every job final as soon (bench/burst.py; docs/sandbox.md).
JOB_CPU_WEIGHT = 12


@dataclass(frozen=True)
class SandboxConfig:
    """How this host runs sandboxes."""

    # The uid jobs run as (slot i runs as uid + i when slots get their own).
    uid: int = DEFAULT_UID
    # Which cgroup hierarchy limits jobs: auto, v1, v2 or none.
    cgroup: str = "auto"
    # A fixed RLIMIT_NPROC for a uid every slot shares (MPS without pids cgroup).
    nproc: int | None = None
    # The CPU weight of each job's cgroup, 1 to 100 (``JOB_CPU_WEIGHT``).
    cpu_weight: int = JOB_CPU_WEIGHT

    @classmethod
    def parse(
        cls,
        *,
        uid: object = DEFAULT_UID,
        cgroup: object = "auto",
        nproc: object = None,
        cpu_weight: object = JOB_CPU_WEIGHT,
    ) -> SandboxConfig:
        """Build a config from loose values (settings, the environment), or refuse.

        The error names the setting and what it accepts, so an operator can fix it.
        """
        try:
            uid_value = int(str(uid).strip())
        except ValueError:
            raise SandboxUnavailable(
                f"DOJO_SANDBOX_UID must be a uid (a number), not {uid!r}."
            ) from None
        if uid_value <= 0:
            raise SandboxUnavailable(
                f"DOJO_SANDBOX_UID must be a uid above 0, not {uid_value}."
            )
        mode = str(cgroup or "auto").strip().lower() or "auto"
        if mode not in CGROUP_MODES:
            raise SandboxUnavailable(
                f"DOJO_CGROUP must be one of {', '.join(CGROUP_MODES)}, not {mode!r}."
            )
        nproc_value = None
        if nproc not in (None, ""):
            try:
                nproc_value = int(str(nproc).strip())
            except ValueError:
                nproc_value = 0
            if nproc_value <= 0:
                raise SandboxUnavailable(
                    f"DOJO_SANDBOX_NPROC must be a positive number, not {nproc!r}."
                )
        try:
            weight = int(str(cpu_weight).strip())
        except ValueError:
            weight = 0
        if not 1 <= weight <= 100:
            raise SandboxUnavailable(
                "DOJO_JOB_CPU_WEIGHT must be a whole number from 1 (jobs yield "
                f"the most to the site) to 100 (as much as a process of the "
                f"site), not {cpu_weight!r}."
            )
        return cls(uid=uid_value, cgroup=mode, nproc=nproc_value, cpu_weight=weight)


_CURRENT: list[SandboxConfig] = []


def sandbox_configure(config: SandboxConfig) -> SandboxConfig:
    """Make `config` the one this process (and the pool it forks) runs with."""
    _CURRENT[:] = [config]
    return config


def sandbox_config() -> SandboxConfig:
    """Return the configuration set at start, or the defaults when none was."""
    return _CURRENT[-1] if _CURRENT else SandboxConfig()
