"""A real Celery GPU worker refuses to start, saying why, when jobs cannot use it."""

import os
import subprocess
import sys

from tests.helpers import ROOT


def _start_worker(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config.celery_app",
            "worker",
            "-Q",
            "train-gpu",
            "-c",
            "1",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": f"{ROOT / 'platform'}{os.pathsep}{ROOT}",
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_gpu_worker_without_the_gpu_refuses_to_start_and_says_why():
    """DOJO_GPU_DEVICE=0 on a host without /dev/nvidia0: the worker exits."""
    done = _start_worker({"DOJO_GPU_DEVICE": "0"})
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "This Dojo worker cannot start: this GPU worker cannot start" in output
    assert "/dev/nvidia0 does not exist" in output


def test_gpu_worker_without_a_memory_cgroup_refuses_to_start():
    """Memory only by RLIMIT_AS would stop CUDA: the worker exits instead."""
    done = _start_worker({"DOJO_GPU_DEVICE": "0", "DOJO_CGROUP": "none"})
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "cannot cap job memory with a cgroup" in output


def test_worker_with_a_misspelt_cgroup_setting_refuses_to_start():
    done = _start_worker({"DOJO_CGROUP": "v3"})
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "DOJO_CGROUP must be one of auto, v1, v2, none, not 'v3'" in output
