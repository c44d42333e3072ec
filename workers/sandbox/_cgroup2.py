"""Per-job cgroup v2 groups: memory.max, pids.max, cpu.max, cpu.stat, cgroup.kill.

v2 forbids processes in a group that hands controllers to its children ("no
internal processes"), so the supervisor first moves every process of its own group
into a leaf child (``dojo-supervisor``), then enables in its own group each
controller that group is offered (read from ``cgroup.controllers``, never assumed),
and makes one child per job beside the leaf. The true root of the hierarchy is
exempt from the rule, so a supervisor that lives there moves nothing.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from ._config import sandbox_config

LEAF = "dojo-supervisor"
# The CPU quota's period: a job with ``cpus`` cores may run ``cpus`` times this
# long in each period (v1 cpu.cfs_quota_us, v2 cpu.max), then waits for the next.
CFS_PERIOD_US = 100_000
# cpu.weight: the kernel's least (a warming spare's), and its default.
CPU_WEIGHT_IDLE, CPU_WEIGHT_DEFAULT = 1, 100


def cpu_quota_us(cpus: float) -> int:
    """Return the quota per ``CFS_PERIOD_US`` for ``cpus`` cores (at least 1 ms)."""
    return max(1000, int(cpus * CFS_PERIOD_US))


def cgroup2_mount(mountinfo: Path = Path("/proc/self/mountinfo")) -> Path | None:
    """Return where the cgroup v2 hierarchy is mounted, or None."""
    with contextlib.suppress(OSError):
        for line in mountinfo.read_text().splitlines():
            fields, _, tail = line.partition(" - ")
            if tail.split(" ", 1)[0] == "cgroup2":
                return Path(fields.split()[4])
    return None


def _own_path() -> str | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return line[3:]
    return None


def _words(path: Path) -> set[str]:
    try:
        return set(path.read_text().split())
    except OSError:
        return set()


def _field(path: Path, key: str) -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    return 0


def _procs(group: Path) -> list[int]:
    try:
        return [int(p) for p in (group / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _kill_group(group: Path, *, timeout: float = 5.0) -> bool:
    """SIGKILL every process in ``group`` (cgroup.kill where the kernel has it)."""
    deadline = time.monotonic() + timeout
    kill_file = group / "cgroup.kill"
    while time.monotonic() < deadline:
        pids = _procs(group)
        if not pids:
            return True
        try:
            kill_file.write_text("1")
        except OSError:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)
    return not _procs(group)


def _rmdir(group: Path) -> None:
    # A killed task leaves the group a moment after SIGKILL; retry briefly.
    for _ in range(50):
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)


def _remove_stale(parent: Path) -> None:
    """Kill and remove job groups whose supervisor is gone (SIGKILLed, say)."""
    for group in parent.glob("dojo-*-*"):
        pid = group.name.split("-")[1]
        if pid.isdigit() and not Path("/proc", pid).exists():
            _kill_group(group)
            _rmdir(group)


def _move_into_leaf(own: Path) -> None:
    """Move every process of ``own`` into its leaf child (v2's no-internal rule)."""
    leaf = own / LEAF
    with contextlib.suppress(FileExistsError):
        leaf.mkdir()
    # Processes may fork while we move them: repeat until the group is empty.
    for _ in range(20):
        pids = _procs(own)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(OSError):
                (leaf / "cgroup.procs").write_text(str(pid))


@dataclass(frozen=True)
class V2Parent:
    """The group job groups are made in, and the controllers it hands them."""

    path: Path
    controllers: frozenset[str]


@functools.cache
def _parent_for(pid: int) -> V2Parent | None:
    mount, own = cgroup2_mount(), _own_path()
    if mount is None or own is None:
        return None
    group = mount / own.lstrip("/")
    if group.name == LEAF:
        group = group.parent
    elif (group / "cgroup.type").exists():
        # Only the true root lacks cgroup.type; a cgroup namespace's root (a
        # container's "/") is an ordinary group and obeys the rule.
        _move_into_leaf(group)
    if not (group / "cgroup.procs").exists():
        return None
    offered = _words(group / "cgroup.controllers")
    for controller in sorted(offered - _words(group / "cgroup.subtree_control")):
        with contextlib.suppress(OSError):
            (group / "cgroup.subtree_control").write_text(f"+{controller}")
    return V2Parent(group, frozenset(_words(group / "cgroup.subtree_control")))


def v2_parent() -> V2Parent | None:
    """Set up this supervisor's v2 parent group once per process; None if unusable."""
    return _parent_for(os.getpid())


def job_cpu_weight() -> int:
    """Return a job's cgroup v2 cpu.weight (``SandboxConfig.cpu_weight``)."""
    return sandbox_config().cpu_weight


def job_cpu_shares() -> int:
    """Return a job's cgroup v1 cpu.shares: its weight on v1's scale (1024 for
    a process's own, 2 the least)."""
    return max(2, round(job_cpu_weight() * 1024 / CPU_WEIGHT_DEFAULT))


class JobCgroup2:
    """One job's v2 group. ``memory``/``pids``/``cpu`` name it where that applies."""

    version = 2

    def __init__(
        self,
        parent: V2Parent,
        *,
        memory_bytes: int,
        max_processes: int,
        cpus: float = 0,
    ):
        _remove_stale(parent.path)
        name = f"dojo-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.group: Path | None = parent.path / name
        self.memory: Path | None = None
        self.pids: Path | None = None
        self.cpu: Path | None = None
        try:
            self.group.mkdir()
        except OSError:
            self.group = None
            return
        if "memory" in parent.controllers and self._limit_memory(memory_bytes):
            self.memory = self.group
        if "pids" in parent.controllers:
            with contextlib.suppress(OSError):
                (self.group / "pids.max").write_text(str(max_processes))
                self.pids = self.group
        if cpus > 0 and "cpu" in parent.controllers:
            with contextlib.suppress(OSError):
                quota = f"{cpu_quota_us(cpus)} {CFS_PERIOD_US}"
                (self.group / "cpu.max").write_text(quota)
                self.cpu = self.group
        self.cpu_share_set(idle=False)

    def cpu_share_set(self, *, idle: bool) -> None:
        """Take the smallest CPU weight (idle) or a job's (``job_cpu_weight``):
        the scheduler shares the CPU between groups before it looks at nice."""
        if self.group is not None and (self.group / "cpu.weight").exists():
            with contextlib.suppress(OSError):
                (self.group / "cpu.weight").write_text(
                    str(CPU_WEIGHT_IDLE if idle else job_cpu_weight())
                )

    def _limit_memory(self, memory_bytes: int) -> bool:
        assert self.group is not None
        try:
            (self.group / "memory.max").write_text(str(memory_bytes))
            # Without this a host with swap would let the job page out past max.
            swap = self.group / "memory.swap.max"
            if swap.exists():
                swap.write_text("0")
        except OSError:
            return False
        # Kill the whole job on OOM, not one thread of it: a clean, single end.
        with contextlib.suppress(OSError):
            (self.group / "memory.oom.group").write_text("1")
        return True

    @property
    def groups(self) -> list[Path]:
        """Return every group that was made (one, or none)."""
        return [self.group] if self.group is not None else []

    def procs_files(self) -> list[str]:
        """Return the cgroup.procs files the job's first process joins."""
        return [str(g / "cgroup.procs") for g in self.groups]

    def oom_killed(self) -> bool:
        """Return whether the kernel OOM-killed a process of the job."""
        if self.memory is None:
            return False
        return _field(self.memory / "memory.events", "oom_kill") > 0

    def pids_exhausted(self) -> bool:
        """Return whether a fork or thread creation hit pids.max."""
        if self.pids is None:
            return False
        return _field(self.pids / "pids.events", "max") > 0

    def peak_memory_bytes(self) -> int | None:
        """Return the job's peak memory use (memory.peak, kernel 5.19+)."""
        if self.memory is None:
            return None
        with contextlib.suppress(OSError, ValueError):
            return int((self.memory / "memory.peak").read_text().split()[0])
        return None

    def cpu_seconds(self) -> float | None:
        """Return the CPU time used by every process of the job (cpu.stat)."""
        if self.group is None or not (self.group / "cpu.stat").exists():
            return None
        return _field(self.group / "cpu.stat", "usage_usec") / 1e6

    def kill_all(self, *, timeout: float = 5.0) -> bool:
        """Kill every process of the job (cgroup.kill) and wait until none is left."""
        return self.group is None or _kill_group(self.group, timeout=timeout)

    def remove(self) -> None:
        """Kill what is left and delete the group."""
        if self.group is not None:
            self.kill_all()
            _rmdir(self.group)
