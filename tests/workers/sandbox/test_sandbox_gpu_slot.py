"""gpu_slot hands a job one GPU's device nodes and memory-growth settings."""

from __future__ import annotations

from pathlib import Path

from workers.sandbox import gpu_slot


def test_gpu_slot_lists_existing_nodes_for_its_card(tmp_path: Path) -> None:
    """Only this slot's card and the shared control nodes that exist are passed."""
    for name in ("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm"):
        (tmp_path / name).touch()
    env, devices = gpu_slot(1, dev_root=tmp_path)
    assert env == {
        "CUDA_VISIBLE_DEVICES": "1",
        "TF_FORCE_GPU_ALLOW_GROWTH": "true",
        "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
    }
    assert devices == [
        str(tmp_path / "nvidia1"),
        str(tmp_path / "nvidiactl"),
        str(tmp_path / "nvidia-uvm"),
    ]


def test_gpu_slot_without_gpu_has_no_devices(tmp_path: Path) -> None:
    """On a host without NVIDIA nodes the slot passes no devices."""
    assert gpu_slot(0, dev_root=tmp_path)[1] == []
