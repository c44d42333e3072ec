"""Hold a whole process tree to a share of the CPUs, with the job groups' own code.

A bench that plays a smaller machine (a runner host of half a core beside the
site) needs what a job's CPU quota is: a cgroup with ``cpu.max`` (v2) or
``cpu.cfs_quota_us`` (v1), here around a long-lived command and everything it
starts. It is made by ``job_cgroups`` like a job's group, with only the CPU
limit binding: its memory and process limits are the machine's own. A held
process that is itself a sandbox supervisor makes its jobs' groups inside it,
so their quotas nest under this one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ._cgroup import AnyCgroups, job_cgroups
from ._launch import cgroup_prefix
from ._limits import SandboxUnavailable


def _machine_memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _pid_max() -> int:
    try:
        return int(Path("/proc/sys/kernel/pid_max").read_text())
    except (OSError, ValueError):
        return 4_194_304


def _remove_below(group: Path) -> None:
    """Kill the processes of every group below ``group`` and remove those groups.

    A held supervisor killed mid-job leaves its job's group behind, and a v2
    supervisor its leaf: the group itself cannot be removed while they exist.
    """
    below = [path for path in group.rglob("*") if path.is_dir()]
    for path in sorted(below, key=lambda p: len(p.parts), reverse=True):
        for _ in range(50):
            with contextlib.suppress(OSError, ValueError):
                for pid in (path / "cgroup.procs").read_text().split():
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(int(pid), signal.SIGKILL)
            try:
                path.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.02)


@dataclass(frozen=True)
class CpuShare:
    """A group holding what joins it to ``cpus`` cores; ``prefix`` joins it."""

    cpus: float
    prefix: list[str]
    groups: AnyCgroups

    def cpu_seconds(self) -> float | None:
        """Return the CPU time used in the group so far, its children's included."""
        return self.groups.cpu_seconds()


@contextlib.contextmanager
def cpu_share(*, cpus: float) -> Iterator[CpuShare]:
    """Yield a share of ``cpus`` cores; ``share.prefix + argv`` runs argv in it.

    The prefix makes the command join the group before it execs, so the
    command and every process it starts are held together. On leaving,
    whatever is left in the group (and below it) is killed and the groups are
    removed. Raise SandboxUnavailable where no CPU quota can be set (not root,
    no cpu controller offered).
    """
    if cpus <= 0:
        raise ValueError("cpus must be more than 0")
    groups = job_cgroups(
        memory_bytes=_machine_memory_bytes(), max_processes=_pid_max(), cpus=cpus
    )
    if groups is None or groups.cpu is None:
        if groups is not None:
            groups.remove()
        raise SandboxUnavailable(
            "No CPU quota can be set here: it needs root and a writable cpu "
            "cgroup controller (v1 cpu.cfs_quota_us or v2 cpu.max)."
        )
    try:
        yield CpuShare(cpus=cpus, prefix=cgroup_prefix(groups), groups=groups)
    finally:
        for group in groups.groups:
            _remove_below(group)
        groups.remove()
