"""cpu_share: a command and every process it starts held to a CPU quota, then ended.

Real cgroups (v1 here, v2 where the hierarchy is v2 only), real processes: the
benches hold runner hosts to half a core with it (bench/runners.py).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import wait_for
from workers.sandbox import cpu_share
from workers.sandbox._cgroup2 import cgroup2_mount

# The held command forks a child; both spin, so together they ask for two cores.
SPIN = """
import os
if os.fork() == 0:
    while True:
        pass
print(os.getpid(), flush=True)
while True:
    pass
"""


def _cpu_group(pid: int) -> tuple[Path, str]:
    """Return the cpu group a process is in, and its quota as "quota period"."""
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "cpu" in controllers.split(","):
            group = Path("/sys/fs/cgroup/cpu", path.lstrip("/"))
            quota = (group / "cpu.cfs_quota_us").read_text().strip()
            period = (group / "cpu.cfs_period_us").read_text().strip()
            return group, f"{quota} {period}"
    path = next(line[3:] for line in lines if line.startswith("0::"))
    group = cgroup2_mount() / path.lstrip("/")
    return group, (group / "cpu.max").read_text().strip()


def _throttled(group: Path) -> int:
    for line in (group / "cpu.stat").read_text().splitlines():
        name, _, value = line.partition(" ")
        if name == "nr_throttled":
            return int(value)
    return 0


def test_a_held_command_and_its_children_share_the_quota_and_end_with_it():
    with cpu_share(cpus=0.5) as share:
        held = subprocess.Popen(
            [*share.prefix, sys.executable, "-c", SPIN],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            pid = int(held.stdout.readline())
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            group, quota = _cpu_group(pid)
            assert quota == "50000 100000"
            assert _cpu_group(int(children[0]))[0] == group
            # Two spinning processes under half a core are held back.
            wait_for(lambda: _throttled(group), timeout=30, what="throttling")
            assert share.cpu_seconds() > 0
        except BaseException:
            held.kill()
            raise
    assert held.wait(timeout=10) == -9
    # Removed only once nothing is left in it: the child was killed too.
    assert not group.exists()
