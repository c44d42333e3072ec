"""On a real GPU host with cgroup v2: memory.max, the GPU probe, the device report.

Deselected by default (marker gpu_host): this machine has no GPU and its v2
hierarchy has no memory controller. bin/gpu-host-check runs them on a GPU host.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.workers.sandbox.sandbox_helpers import RunPy
from workers.sandbox import (
    Outcome,
    SandboxLimits,
    cgroup_support,
    host_prepare,
    read_device_report,
    run,
    runner_argv,
)

pytestmark = pytest.mark.gpu_host

MIB = 2**20


@pytest.fixture(autouse=True)
def v2_memory(sandbox_settings) -> None:
    sandbox_settings(cgroup="v2")
    support = cgroup_support()
    assert support.version == 2 and support.memory, support.describe()


def test_memory_max_kills_a_hog_and_peak_is_read(run_py: RunPy) -> None:
    """memory.max 200M, swap 0: a 400 MB allocation ends killed_memory."""
    result = run_py(
        "x = bytearray(400 * 2**20)\nprint('survived')",
        limits=SandboxLimits(memory_bytes=200 * MIB, wall_seconds=60),
    )
    assert result.outcome is Outcome.KILLED_MEMORY, result.to_dict()
    assert "survived" not in result.log
    assert result.peak_memory_bytes is not None
    assert 150 * MIB <= result.peak_memory_bytes <= 220 * MIB


def test_gpu_worker_probe_sees_the_gpu(keras_backend: str) -> None:
    plan = host_prepare(gpu_device=0, slots=16, keras_backend=keras_backend)
    try:
        print(plan.describe(), plan.notices)
        assert "GPU 0 x 16 slots" in plan.describe()
    finally:
        plan.close()


def test_gpu_job_reports_the_card_and_has_no_address_space_limit(
    keras_backend: str, work_dir: Path
) -> None:
    plan = host_prepare(gpu_device=0, slots=4, keras_backend=keras_backend)
    try:
        place = plan.place(3)
        script = work_dir / "job.py"
        script.write_text(
            "import keras\nkeras.ops.sum(keras.ops.ones((64, 64)))\n"
            "print([l for l in open('/proc/self/limits') if 'address' in l])\n"
        )
        report = work_dir / "device.json"
        result = run(
            runner_argv(str(script)),
            work_dir=work_dir,
            binds=place.binds,
            env={
                **place.env,
                "KERAS_BACKEND": keras_backend,
                "DOJO_DEVICE_REPORT": str(report),
            },
            devices=place.devices,
            uid=place.uid,
            limits=SandboxLimits(memory_bytes=8 * 2**30, wall_seconds=300),
        )
    finally:
        plan.close()
    assert result.outcome is Outcome.OK, result.log[-2000:]
    assert "unlimited" in result.log.split("address space")[1].split("\n")[0]
    device = read_device_report(report)
    assert device is not None and device.on_gpu is True, device
    assert "NVIDIA" in device.name
