"""A GPU worker proves at start that its jobs can use the GPU, or refuses to start.

This machine has no GPU: the probe below runs for real, in the real sandbox, with
TensorFlow, against stand-in device nodes (character devices like /dev/null), and
must conclude that the backend does not see a GPU.
"""

from __future__ import annotations

import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from workers.sandbox import SandboxUnavailable, host_prepare
from workers.sandbox._cgroup import CgroupSupport
from workers.sandbox._host import HostPlan, Mps


@pytest.fixture
def fake_dev() -> Iterator[Path]:
    """Return a /dev-like folder with nvidia0/nvidiactl nodes that are /dev/null."""
    root = Path("/dev", f"dojo-test-{uuid.uuid4().hex[:8]}")
    root.mkdir()
    for name in ("nvidia0", "nvidiactl"):
        os.mknod(root / name, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_gpu_worker_whose_sandbox_sees_no_gpu_refuses_to_start(fake_dev: Path):
    """The probe runs the configured backend inside the sandbox; no GPU: refused."""
    with pytest.raises(SandboxUnavailable) as refused:
        host_prepare(
            gpu_device=0, slots=4, keras_backend="tensorflow", dev_root=fake_dev
        )
    message = str(refused.value)
    assert "this GPU worker cannot start" in message
    assert "KERAS_BACKEND=tensorflow does not see GPU 0" in message
    assert "it reports: CPU" in message
    assert "CUDA build" in message


def test_gpu_worker_without_the_device_node_says_how_to_pass_it(tmp_path: Path):
    with pytest.raises(SandboxUnavailable, match="nvidia0 does not exist.*--gpus"):
        host_prepare(gpu_device=0, dev_root=tmp_path, probe=False)


def test_gpu_worker_without_a_memory_cgroup_refuses(fake_dev: Path, sandbox_settings):
    """cgroup v2 here offers no memory controller: a GPU worker will not run."""
    sandbox_settings(cgroup="v2")
    with pytest.raises(SandboxUnavailable, match="cannot cap job memory with a cgroup"):
        host_prepare(gpu_device=0, dev_root=fake_dev, probe=False)


def test_gpu_worker_needs_the_bwrap_backend(fake_dev: Path):
    with pytest.raises(SandboxUnavailable, match="need the bwrap backend"):
        host_prepare(backend="local", gpu_device=0, dev_root=fake_dev, probe=False)


def test_without_mps_each_gpu_slot_runs_as_its_own_uid(fake_dev: Path):
    """No MPS binary here: the fallback (a uid per slot) is used and said."""
    plan = host_prepare(
        gpu_device=0, slots=4, uid_base=61000, dev_root=fake_dev, probe=False
    )
    assert plan.mps is None
    assert any("No MPS" in n for n in plan.notices)
    assert [plan.place(i).uid for i in range(4)] == [61000, 61001, 61002, 61003]
    assert plan.place(2).env["CUDA_VISIBLE_DEVICES"] == "0"
    nodes = [str(fake_dev / "nvidia0"), str(fake_dev / "nvidiactl")]
    assert plan.place(2).devices == nodes
    assert "uids 61000-61003 (one a slot)" in plan.describe()
    assert "no MPS" in plan.describe()


def test_under_mps_slots_share_one_uid_and_the_pipe_folder_is_read_only(tmp_path):
    """MPS serves one uid: every slot is that uid and sees the daemon's pipe
    folder read-only (a job cannot plant files there for the next one); the
    GPU memory share is the daemon's, not an environment variable a job could
    change before CUDA starts."""
    plan = HostPlan(
        cgroups=CgroupSupport(version=2, memory=True, pids=False),
        uid_base=61000,
        slots=16,
        gpu_device=1,
        mps=Mps(device=1, root=tmp_path, memory_mb=8000),
        gpu_memory_mb=8000,
        dev_root=tmp_path,
    )
    place = plan.place(5)
    assert place.uid == 61000 and plan.uid_range() == range(61000, 61001)
    assert "CUDA_VISIBLE_DEVICES" not in place.env
    assert "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT" not in place.env
    assert place.env["CUDA_MPS_PIPE_DIRECTORY"] == str(tmp_path / "pipe")
    pipe = str(tmp_path / "pipe")
    assert [(b.target, b.writable) for b in place.binds] == [(pipe, False)]
    assert "MPS, 8000 MB GPU memory a slot" in plan.describe()


def test_the_gpu_memory_share_is_set_on_the_mps_daemon(tmp_path, monkeypatch):
    """Starting MPS tells the control daemon the pinned memory limit of every
    server it starts (what the daemon is sent is recorded by a stand-in)."""
    from workers.sandbox import _host

    said = tmp_path / "said.txt"
    fake = tmp_path / "nvidia-cuda-mps-control"
    fake.write_text(f'#!/bin/sh\necho "ARGS $*" >> {said}\ncat >> {said}\n')
    fake.chmod(0o755)
    monkeypatch.setattr(_host, "MPS_CONTROL", str(fake))
    mps = Mps(device=1, root=tmp_path / "mps", memory_mb=8000)
    assert mps.start() is None
    text = said.read_text()
    assert "ARGS -d" in text
    assert "set_default_device_pinned_mem_limit 0 8000M" in text


def test_cpu_worker_is_placed_without_devices_and_says_its_limits():
    plan = host_prepare(slots=2)
    assert plan.gpu_device == -1 and plan.place(1).devices == []
    # This machine's v1 cpu hierarchy takes a job's CPU quota (cfs_quota_us).
    assert plan.describe().startswith("cgroup v1: memory, pids, cpu")
    assert plan.notices == []


def test_cpu_worker_without_cgroups_keeps_rlimits_and_says_so(sandbox_settings):
    """No cgroup: the rlimit fallback stays, a notice says so, slots get a uid each."""
    sandbox_settings(cgroup="none")
    plan = host_prepare(slots=2, uid_base=61000)
    assert plan.describe().startswith("no cgroups: memory by RLIMIT_AS")
    assert any("No memory cgroup" in n for n in plan.notices)
    assert [plan.place(i).uid for i in range(2)] == [61000, 61001]
