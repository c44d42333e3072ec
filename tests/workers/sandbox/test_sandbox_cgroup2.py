"""cgroup v2 on a real v2 hierarchy: leaf move, detected controllers, kill, cleanup.

This machine mounts cgroup v2 beside v1 (hybrid). Only controllers that v1 does not
hold are offered there (hugetlb), so memory.max cannot be tried here: the GPU host
script (bin/gpu-host-check) runs these tests and test_gpu_host_v2.py there. The
tests use the real hierarchy and only groups they make; enabling hugetlb at its
root (as the supervisor does with what it is offered) touches no one else's group.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.workers.sandbox.sandbox_helpers import RunPy, processes_with
from workers.sandbox import (
    Outcome,
    SandboxLimits,
    SandboxUnavailable,
    cgroup_support,
    run,
)
from workers.sandbox._cgroup2 import LEAF, cgroup2_mount, v2_parent

PROJECT_ROOT = Path(__file__).resolve().parents[3]
MOUNT = cgroup2_mount()

SUPERVISOR = """
import json, sys
from workers.sandbox import SandboxConfig, run, sandbox_configure
sandbox_configure(SandboxConfig(cgroup="v2"))
result = run(["python", "-c", "print(open('/proc/self/cgroup').read())"],
             work_dir=sys.argv[1], backend="local")
print(json.dumps({"outcome": result.outcome, "log": result.log,
                  "own": open("/proc/self/cgroup").read().split("0::")[1].strip()}))
"""


def _procs(group: Path) -> list[int]:
    return [int(p) for p in (group / "cgroup.procs").read_text().split()]


def _join(group: Path, argv: list[str], **kwargs) -> subprocess.Popen:
    """Start argv as a member of group (it joins before it execs)."""
    script = 'echo $$ > "$0/cgroup.procs" && exec "$@"'
    return subprocess.Popen(["sh", "-c", script, str(group), *argv], **kwargs)


def _destroy(group: Path) -> None:
    """Kill and remove a test group and everything below it."""
    if not group.exists():
        return
    with contextlib.suppress(OSError):
        (group / "cgroup.kill").write_text("1")
    for child in sorted(group.rglob("*"), key=lambda p: -len(p.parts)):
        if child.is_dir():
            for _ in range(100):
                try:
                    child.rmdir()
                    break
                except OSError:
                    time.sleep(0.02)
    for _ in range(100):
        try:
            group.rmdir()
            return
        except OSError:
            time.sleep(0.02)


@pytest.fixture
def v2(sandbox_settings) -> Iterator[Path]:
    """Make jobs use cgroup v2; this process's group hands out what it is offered.

    Here that is hugetlb, at the true root; on a GPU host, memory, at the root of
    the container's cgroup namespace (after this process moved into a leaf).
    """
    assert MOUNT is not None, "no cgroup v2 hierarchy is mounted on this machine"
    sandbox_settings(cgroup="v2")
    parent = v2_parent()
    assert parent is not None, "cgroup v2 is mounted but unusable here"
    assert parent.controllers, "this group hands no controller to its children"
    yield MOUNT


def test_v2_job_runs_in_its_own_group_which_is_removed(v2: Path, work_dir) -> None:
    """Each job runs in a fresh child group; cpu.stat counts it; the group goes.
    Where the cpu controller is delegated, the group holds the job's cpu.max."""
    result = run(
        [
            "python",
            "-c",
            "import time; t = time.process_time()\n"
            "while time.process_time() - t < 0.5: pass\n"
            "own = open('/proc/self/cgroup').read()\n"
            "print(own)\n"
            "import pathlib\n"
            f"quota = pathlib.Path('{v2}' + own.split('0::')[1].strip(), 'cpu.max')\n"
            "print('cpu.max', quota.read_text() if quota.exists() else 'none')",
        ],
        work_dir=work_dir,
        backend="local",
        limits=SandboxLimits(cpus=1.5),
    )
    assert result.outcome is Outcome.OK, result.log
    line = next(x for x in result.log.splitlines() if x.startswith("0::"))
    group = v2 / line[3:].lstrip("/")
    assert group.name.startswith(f"dojo-{os.getpid()}-")
    assert not group.exists()
    assert result.cpu_seconds >= 0.4
    held = "cpu" in v2_parent().controllers
    assert ("cpu.max 150000 100000" if held else "cpu.max none") in result.log


def test_v2_daemons_are_killed_with_the_group(v2: Path, work_dir: Path) -> None:
    """A setsid daemon that escapes the process group dies by cgroup.kill."""
    token = f"dojo-v2-daemon-{uuid.uuid4().hex}"
    result = run(
        [
            "python",
            "-c",
            "import subprocess, time; subprocess.Popen(['setsid', 'sh', '-c', "
            f"'sleep 600; :', '{token}'], start_new_session=True); time.sleep(0.3)",
        ],
        work_dir=work_dir,
        backend="local",
    )
    assert result.outcome is Outcome.OK, result.log
    assert processes_with(token) == []
    assert list(v2.glob(f"dojo-{os.getpid()}-*")) == []


def test_v2_bwrap_job_ends_and_leaves_no_group(v2: Path, run_py: RunPy) -> None:
    """The bwrap backend works under v2 too; no job group is left behind."""
    result = run_py("print('inside v2')", limits=SandboxLimits(wall_seconds=30))
    assert result.outcome is Outcome.OK, result.log
    assert "inside v2" in result.log
    assert list(v2.glob(f"dojo-{os.getpid()}-*")) == []


# A container's view: its own cgroup namespace, with cgroup2 mounted inside it, so
# the supervisor's group is "/" although it is not the hierarchy's true root.
CONTAINER = f'umount {MOUNT} && mount -t cgroup2 none {MOUNT} && exec "$@"'


@pytest.mark.parametrize("container", [False, True], ids=["group", "cgroupns-root"])
def test_v2_supervisor_moves_into_a_leaf_enables_offered_and_clears_stale(
    v2: Path, sandbox_root: Path, container: bool
) -> None:
    """A supervisor in a non-root group (or at the root of its container's cgroup
    namespace) moves its group's processes into a leaf, enables the controllers it
    is offered, runs jobs beside the leaf, and removes groups of dead supervisors."""
    group = v2 / f"dojotest-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    group.mkdir()
    gone = subprocess.Popen(["true"])
    gone.wait()
    stale = group / f"dojo-{gone.pid}-deadbeef"
    try:
        stale.mkdir()
        stale_job = _join(stale, ["sleep", "600"])
        sibling = _join(group, ["sleep", "600"])
        time.sleep(0.2)
        assert set(_procs(group)) == {sibling.pid}
        work = sandbox_root / "work"
        work.mkdir()
        argv = [sys.executable, "-c", SUPERVISOR, str(work)]
        if container:
            argv = ["unshare", "--cgroup", "--mount", "sh", "-c", CONTAINER, "sh"]
            argv += [sys.executable, "-c", SUPERVISOR, str(work)]
        supervisor = _join(
            group,
            argv,
            env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        out, err = supervisor.communicate(timeout=60)
        assert supervisor.returncode == 0, err
        report = json.loads(out.strip().splitlines()[-1])
        rel = "" if container else "/" + str(group.relative_to(v2))
        assert report["outcome"] == "ok", report
        assert report["own"] == f"{rel}/{LEAF}"
        assert f"0::{rel}/dojo-{supervisor.pid}-" in report["log"]
        assert _procs(group) == []
        assert sibling.pid in _procs(group / LEAF)
        offered = set((group / "cgroup.controllers").read_text().split())
        enabled = set((group / "cgroup.subtree_control").read_text().split())
        assert offered and offered <= enabled
        assert not stale.exists()
        assert stale_job.wait(timeout=5) == -9
        assert list(group.glob(f"dojo-{supervisor.pid}-*")) == []
    finally:
        _destroy(group)


def test_v2_support_is_detected_not_assumed(v2: Path) -> None:
    """What a job can be limited by is what this group was offered, no more."""
    support = cgroup_support()
    delegated = v2_parent().controllers
    assert support.version == 2
    assert support.memory == ("memory" in delegated)
    assert support.pids == ("pids" in delegated)
    assert support.cpu == ("cpu" in delegated)
    assert support.describe().startswith("cgroup v2:")
    if not support.memory:
        assert "memory by RLIMIT_AS" in support.describe()
    if not support.cpu:
        assert "no CPU quota" in support.describe()


def test_v2_without_memory_cpu_job_keeps_rlimit_and_gpu_job_is_refused(
    v2: Path, run_py: RunPy
) -> None:
    """A CPU job falls back to RLIMIT_AS; a GPU job never does, it is refused.

    This machine's v2 hierarchy offers no memory controller (v1 holds it).
    """
    assert "memory" not in v2_parent().controllers
    result = run_py("print([l for l in open('/proc/self/limits') if 'address' in l])")
    assert "unlimited" not in result.log.split("address space")[1].split()[0]
    with pytest.raises(SandboxUnavailable, match="GPU job needs a memory cgroup"):
        run_py("print('never')", devices=["/dev/null"])
