"""Fixtures: the DL101 data folders, materialized once per session."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parents[2]
PACK = REPO / "assignments" / "dl101"
SLUGS = ("hello", "mlp", "cnn", "transfer")
# A slice of Fashion-MNIST per class: enough to learn, small enough for seconds.
TRAIN_PER_CLASS = 200
TEST_PER_CLASS = 60
# What each reference reaches at least on that slice (on the full data set it
# reaches its instructions' figure, see bench/references.py). Transfer trains on
# its own 5 images per class either way (70.7% public here, measured).
SLICE_ACCURACY = {"hello": 0.7, "mlp": 0.7, "cnn": 0.7, "transfer": 0.6}


def load_spec(slug: str) -> dict[str, Any]:
    """Return the DL101 spec for ``slug``."""
    return json.loads((PACK / slug / "spec.json").read_text())


@pytest.fixture(scope="session")
def data_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Materialize a slice of each assignment's data; transfer gets base.keras."""
    from assignments.datasets import materialize
    from assignments.transfer import build_base

    dirs = {}
    for slug in SLUGS:
        out = tmp_path_factory.mktemp(f"data-{slug}")
        materialize(
            load_spec(slug)["dataset"],
            out,
            train_per_class=TRAIN_PER_CLASS,
            test_per_class=TEST_PER_CLASS,
        )
        dirs[slug] = out
    build_base(
        dirs["transfer"] / "base.keras",
        dataset=load_spec("transfer")["dataset"],
        seed=0,
        train_per_class=TRAIN_PER_CLASS,
    )
    return dirs


def training_env(data_dir: Path, output_dir: Path) -> dict[str, str]:
    """Return the environment a training sandbox would give participant code."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin"),
        "HOME": str(output_dir),
        "DOJO_DATA_DIR": str(data_dir),
        "DOJO_OUTPUT_DIR": str(output_dir),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "OMP_NUM_THREADS": "1",
    }


def run_all(
    jobs: dict[str, tuple[list[str], Path, dict[str, str]]], *, timeout: float
) -> dict[str, Path]:
    """Run one (argv, folder, env) job per slug at once; return each folder.

    TensorFlow's import dominates each job, so they run concurrently.
    """
    running = {
        slug: subprocess.Popen(
            argv,
            cwd=folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for slug, (argv, folder, env) in jobs.items()
    }
    for process in running.values():
        log, _ = process.communicate(timeout=timeout)
        assert process.returncode == 0, log[-3000:]
    return {slug: folder for slug, (_, folder, _) in jobs.items()}


def grade_output(slug: str, out: Path, data_dirs: dict[str, Path]) -> Any:
    """Grade the model.keras a run left in ``out``, as the evaluator would."""
    from grader import grade

    base = data_dirs[slug] / "base.keras" if slug == "transfer" else None
    report = grade(
        out / "model.keras",
        load_spec(slug),
        data_dirs[slug] / "test.npz",
        base_model_path=base,
    )
    assert report.status == "graded", report.reason
    return report
