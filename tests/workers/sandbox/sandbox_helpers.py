"""Helpers shared by the sandbox test modules (imported by name, not a fixture)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from workers.sandbox import Outcome, SandboxResult, run

RunPy = Callable[..., SandboxResult]


def assert_next_job_runs(sandbox_root: Path) -> None:
    """A fresh job still runs normally after a hostile one."""
    fresh = sandbox_root / "next-job"
    fresh.mkdir(exist_ok=True)
    result = run(["python", "-c", "print('next job fine')"], work_dir=fresh)
    assert result.outcome is Outcome.OK, result.to_dict()
    assert "next job fine" in result.log


def leftover_cgroups() -> list[str]:
    """Return job cgroups this process made that still exist."""
    prefix = f"dojo-{os.getpid()}-"
    found = []
    for controller in ("memory", "pids", "cpuacct", "cpu"):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, names, path = line.split(":", 2)
            if controller in names.split(","):
                base = Path("/sys/fs/cgroup", controller, path.lstrip("/"))
                found += [str(p) for p in base.glob(prefix + "*")]
    return found


def job_cpu_quotas() -> list[str]:
    """Return "quota period" of each v1 cpu group this process's jobs run in."""
    prefix = f"dojo-{os.getpid()}-"
    found = []
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if "cpu" in names.split(","):
            base = Path("/sys/fs/cgroup/cpu", path.lstrip("/"))
            for group in sorted(base.glob(prefix + "*")):
                try:
                    quota = (group / "cpu.cfs_quota_us").read_text().strip()
                    period = (group / "cpu.cfs_period_us").read_text().strip()
                except OSError:
                    continue
                found.append(f"{quota} {period}")
    return found


def processes_with(token: str) -> list[int]:
    """Return the pids whose command line contains token."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            try:
                if token.encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids
