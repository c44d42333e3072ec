"""Per-job cgroups: v1 here, v2 in ``_cgroup2``, and the choice between them.

Each job gets a fresh child of the supervisor's own group in every controller, so
limits nest under whatever the host already imposes. A controller that cannot be
made (not root, not mounted, read-only, not delegated) is simply absent and the
caller falls back to rlimits for it. ``DOJO_CGROUP`` (auto, v1, v2, none) picks
the hierarchy; auto takes v1 where a v1 memory controller is mounted, else v2.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from ._cgroup2 import (
    CFS_PERIOD_US,
    JobCgroup2,
    cgroup2_mount,
    cpu_quota_us,
    job_cpu_shares,
    v2_parent,
)
from ._config import CGROUP_MODES, sandbox_config

CGROUP_ROOT = Path("/sys/fs/cgroup")
# cpu.shares: the kernel's least (a warming spare's), and its default.
CPU_SHARES_IDLE, CPU_SHARES_DEFAULT = 2, 1024


def _own_group(controller: str) -> str | None:
    """Return this process's group path for a v1 controller, or None."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return path
    return None


def _remove_stale(parent: Path) -> None:
    """Remove empty job groups left by supervisors that were SIGKILLed."""
    for group in parent.glob("dojo-*-*"):
        pid = group.name.split("-")[1]
        if pid.isdigit() and not Path("/proc", pid).exists():
            # rmdir fails on a group that still holds processes: then it stays.
            with contextlib.suppress(OSError):
                group.rmdir()


def _make_group(controller: str, name: str) -> Path | None:
    own = _own_group(controller)
    if own is None:
        return None
    parent = CGROUP_ROOT / controller / own.lstrip("/")
    _remove_stale(parent)
    group = parent / name
    try:
        group.mkdir()
    except OSError:
        return None
    return group


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _read_field(path: Path, key: str) -> int:
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    return 0


class JobCgroups:
    """The v1 memory, pids, cpuacct and cpu groups of one job (each may be None).

    ``cpu`` is the group holding the job's CPU quota: the cpuacct group itself
    where cpu and cpuacct share a hierarchy (the usual ``cpu,cpuacct`` mount),
    else a group of its own in the cpu hierarchy; None without a quota.
    """

    version = 1

    def __init__(
        self, *, memory_bytes: int, max_processes: int, cpus: float = 0
    ) -> None:
        name = f"dojo-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.memory = _make_group("memory", name)
        self.pids = _make_group("pids", name)
        self.cpuacct = _make_group("cpuacct", name)
        self.cpu: Path | None = None
        if self.memory is not None and not self._limit_memory(memory_bytes):
            self._remove(self.memory)
            self.memory = None
        if self.pids is not None:
            try:
                (self.pids / "pids.max").write_text(str(max_processes))
            except OSError:
                self._remove(self.pids)
                self.pids = None
        if cpus > 0:
            self.cpu = self._limit_cpu(name, cpus)
        self.cpu_share_set(idle=False)

    def _limit_cpu(self, name: str, cpus: float) -> Path | None:
        """Give the job ``cpus`` cores of bandwidth; return the group that holds it."""
        shared = self.cpuacct is not None and (
            (self.cpuacct / "cpu.cfs_quota_us").exists()
        )
        group = self.cpuacct if shared else _make_group("cpu", name)
        if group is None:
            return None
        try:
            (group / "cpu.cfs_period_us").write_text(str(CFS_PERIOD_US))
            (group / "cpu.cfs_quota_us").write_text(str(cpu_quota_us(cpus)))
        except OSError:
            if not shared:
                self._remove(group)
            return None
        return group

    def cpu_share_set(self, *, idle: bool) -> None:
        """Take the smallest CPU share (idle) or a job's (``job_cpu_shares``).

        Each job has a group of its own in the cpu hierarchy (its cpuacct
        group, where the two share one, or its quota's group; none where the
        hierarchies are apart and DOJO_SANDBOX_CPUS is 0), and the
        scheduler shares the CPU between groups before it looks at nice: a
        niced spare in a group of its own would take as much as a job.
        """
        for group in (self.cpu, self.cpuacct):
            if group is not None and (group / "cpu.shares").exists():
                with contextlib.suppress(OSError):
                    (group / "cpu.shares").write_text(
                        str(CPU_SHARES_IDLE if idle else job_cpu_shares())
                    )
                return

    def _limit_memory(self, memory_bytes: int) -> bool:
        assert self.memory is not None
        try:
            (self.memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
            # Without this a host with swap would let the job page out past its limit.
            memsw = self.memory / "memory.memsw.limit_in_bytes"
            if memsw.exists():
                memsw.write_text(str(memory_bytes))
        except OSError:
            return False
        return True

    @property
    def groups(self) -> list[Path]:
        """Return every group that was made."""
        made = (self.memory, self.pids, self.cpuacct, self.cpu)
        return list(dict.fromkeys(g for g in made if g is not None))

    def procs_files(self) -> list[str]:
        """Return the cgroup.procs files the job's first process joins."""
        return [str(g / "cgroup.procs") for g in self.groups]

    def oom_killed(self) -> bool:
        """Return whether the kernel OOM-killed a process of the job."""
        if self.memory is None:
            return False
        return _read_field(self.memory / "memory.oom_control", "oom_kill") > 0

    def pids_exhausted(self) -> bool:
        """Return whether a fork or thread creation hit pids.max."""
        if self.pids is None:
            return False
        return _read_field(self.pids / "pids.events", "max") > 0

    def peak_memory_bytes(self) -> int | None:
        """Return the job's peak memory use, page cache included."""
        if self.memory is None:
            return None
        return _read_int(self.memory / "memory.max_usage_in_bytes")

    def cpu_seconds(self) -> float | None:
        """Return the CPU time used by every process of the job so far."""
        if self.cpuacct is None:
            return None
        ns = _read_int(self.cpuacct / "cpuacct.usage")
        return None if ns is None else ns / 1e9

    def _pids(self) -> set[int]:
        found: set[int] = set()
        for group in self.groups:
            with contextlib.suppress(OSError, ValueError):
                procs = (group / "cgroup.procs").read_text().split()
                found.update(int(p) for p in procs)
        return found

    def kill_all(self, *, timeout: float = 5.0) -> bool:
        """SIGKILL every process in the groups until none is left; return success."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = self._pids()
            if not pids:
                return True
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)
        return not self._pids()

    @staticmethod
    def _remove(group: Path) -> None:
        with contextlib.suppress(OSError):
            group.rmdir()

    def remove(self) -> None:
        """Kill what is left and delete the groups."""
        self.kill_all()
        for group in self.groups:
            # A killed task leaves the group a moment after SIGKILL; retry briefly.
            for _ in range(50):
                try:
                    group.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


AnyCgroups = JobCgroups | JobCgroup2
MODES = CGROUP_MODES


def cgroup_mode() -> str:
    """Return the hierarchy jobs use: v1, v2 or none (the configured `cgroup`)."""
    mode = sandbox_config().cgroup
    if mode != "auto":
        return mode
    if _own_group("memory") is not None and (CGROUP_ROOT / "memory").is_dir():
        return "v1"
    return "v2" if cgroup2_mount() is not None else "none"


def job_cgroups(
    *, memory_bytes: int, max_processes: int, cpus: float = 0
) -> AnyCgroups | None:
    """Make the groups of one job in the chosen hierarchy (root only), or None.

    ``cpus``: the job's CPU bandwidth in cores (0: no quota).
    """
    mode = cgroup_mode()
    limits = {"memory_bytes": memory_bytes, "max_processes": max_processes}
    if mode == "v1":
        return JobCgroups(**limits, cpus=cpus)
    if mode == "v2":
        parent = v2_parent()
        if parent is not None:
            job = JobCgroup2(parent, **limits, cpus=cpus)
            if job.group is not None:
                return job
    return None


@dataclass(frozen=True)
class CgroupSupport:
    """Which limits this supervisor can put on a job with cgroups."""

    version: int | None
    memory: bool
    pids: bool
    cpu: bool = False

    def describe(self) -> str:
        """Return one line for worker start logs and the hosts page."""
        if self.version is None:
            return (
                "no cgroups: memory by RLIMIT_AS, processes by RLIMIT_NPROC "
                "(shared by every job of the uid)"
            )
        limits = (("memory", self.memory), ("pids", self.pids), ("cpu", self.cpu))
        held = [n for n, ok in limits if ok]
        text = f"cgroup v{self.version}: {', '.join(held) or 'accounting only'}"
        if not self.memory:
            text += "; memory by RLIMIT_AS"
        if not self.pids:
            text += "; processes by RLIMIT_NPROC"
        if not self.cpu:
            text += "; no CPU quota"
        return text


def cgroup_support() -> CgroupSupport:
    """Probe, with a throwaway job group, what cgroups can limit here."""
    if os.geteuid() != 0:
        return CgroupSupport(version=None, memory=False, pids=False)
    probe = job_cgroups(memory_bytes=256 * 1024**2, max_processes=64, cpus=1)
    if probe is None or not probe.groups:
        return CgroupSupport(version=None, memory=False, pids=False)
    try:
        return CgroupSupport(
            version=probe.version,
            memory=probe.memory is not None,
            pids=probe.pids is not None,
            cpu=probe.cpu is not None,
        )
    finally:
        probe.remove()
