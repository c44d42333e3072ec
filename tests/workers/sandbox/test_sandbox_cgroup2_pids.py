"""pids.max under cgroup v2, with the pids controller moved from v1 to v2 for real.

This changes the machine: while it runs, v1's pids hierarchy is unmounted and
pids is enabled at the v2 root, so sandbox jobs run elsewhere meanwhile cannot
make v1 pids groups. So it is deselected by default (marker cgroup2_pids) and runs
alone through `make test-cgroup2` (CI calls it after `make test`). It waits for
v1 pids to have no job groups, and restores v1 pids in a finally.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.workers.sandbox.sandbox_helpers import RunPy
from workers.sandbox import Outcome, SandboxLimits, cgroup_support
from workers.sandbox._cgroup2 import _parent_for, cgroup2_mount

pytestmark = pytest.mark.cgroup2_pids

V1_PIDS = Path("/sys/fs/cgroup/pids")


def _retry(action, *, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            action()
            return
        except (OSError, subprocess.CalledProcessError) as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"could not {what}: {exc}") from exc
            time.sleep(0.2)


def _v1_pids_idle() -> None:
    busy = [p.name for p in V1_PIDS.iterdir() if p.is_dir()]
    if busy:
        raise OSError(f"v1 pids still holds groups {busy}")


@pytest.fixture
def pids_on_v2(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Move pids from v1 to the v2 root for the test, then put it back."""
    mount = cgroup2_mount()
    assert mount is not None, "no cgroup v2 hierarchy is mounted"
    assert V1_PIDS.is_mount(), f"{V1_PIDS} is not a v1 pids mount here"
    control = mount / "cgroup.subtree_control"

    def unmount_when_idle() -> None:
        _v1_pids_idle()
        subprocess.run(["umount", str(V1_PIDS)], check=True, capture_output=True)

    _retry(unmount_when_idle, what="unmount an idle v1 pids", timeout=120)
    try:
        # The v1 hierarchy dies a moment after its unmount; then v2 offers pids.
        _retry(lambda: control.write_text("+pids"), what="enable pids on v2")
        monkeypatch.setenv("DOJO_CGROUP", "v2")
        _parent_for.cache_clear()
        yield mount
    finally:
        _parent_for.cache_clear()
        with contextlib.suppress(AssertionError):
            _retry(lambda: control.write_text("-pids"), what="disable pids on v2")
        _retry(
            lambda: subprocess.run(
                ["mount", "-t", "cgroup", "-o", "pids", "cgroup", str(V1_PIDS)],
                check=True,
                capture_output=True,
            ),
            what="mount v1 pids again",
        )


def test_v2_pids_max_stops_a_fork_bomb(pids_on_v2: Path, run_py: RunPy) -> None:
    """With pids delegated on v2, a fork bomb ends killed_processes via pids.max."""
    support = cgroup_support()
    assert (support.version, support.pids) == (2, True), support.describe()
    result = run_py(
        """
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
        """,
        limits=SandboxLimits(max_processes=32, wall_seconds=30),
    )
    assert result.outcome is Outcome.KILLED_PROCESSES, result.to_dict()
    assert "more than 32 processes" in result.reason
    assert list(pids_on_v2.glob("dojo-*-*")) == []
