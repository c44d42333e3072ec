"""The GPU worker builds its own image with a CUDA-capable Keras backend."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _stages() -> dict[str, str]:
    """Return each build stage's text by its name, in file order."""
    parts = re.split(r"^FROM \S+ AS (\w+)\s*$", DOCKERFILE, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_gpu_worker_builds_the_gpu_target_and_the_rest_the_cpu_one():
    services = COMPOSE["services"]
    assert services["worker-gpu"]["build"]["target"] == "gpu"
    for name in ("web", "worker-cpu", "beat"):
        assert services[name]["build"]["target"] == "cpu", name
    assert services["worker-gpu"]["image"] != services["web"]["image"]


def test_gpu_stage_has_a_cuda_backend_and_no_tensorflow_cpu():
    stages = _stages()
    assert list(stages)[-1] == "cpu", "a plain `docker build` gives the CPU image"
    gpu = stages["gpu"]
    assert re.search(r"torch==\d", gpu)
    assert "grep -v '^tensorflow-cpu'" in gpu
    assert "tensorflow-cpu" in (ROOT / "requirements.txt").read_text()
    assert "pip install --no-cache-dir -r requirements.txt" in stages["cpu"]


def test_gpu_worker_backend_matches_its_image():
    """DOJO_KERAS_BACKEND on the service is the backend the image installs."""
    env = COMPOSE["services"]["worker-gpu"]["environment"]
    assert env["DOJO_KERAS_BACKEND"] == "torch"
    assert "DOJO_KERAS_BACKEND=torch" in _stages()["gpu"]


def test_gpu_worker_runs_one_pool_process_per_slot():
    service = COMPOSE["services"]["worker-gpu"]
    slots = service["environment"]["DOJO_GPU_SLOTS"]
    assert f"-c {slots}" in service["command"]
