"""Each reference solution, run as participant code, trains a passing model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from .conftest import (
    PACK,
    SLICE_ACCURACY,
    SLUGS,
    grade_output,
    run_all,
    training_env,
)


@pytest.fixture(scope="session")
def reference_outputs(
    data_dirs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Run the three solutions as participant code."""
    jobs = {}
    for slug in SLUGS:
        out = tmp_path_factory.mktemp(f"out-{slug}")
        argv = [sys.executable, str(PACK / slug / "solution.py")]
        jobs[slug] = (argv, out, training_env(data_dirs[slug], out))
    return run_all(jobs, timeout=300)


@pytest.mark.parametrize("slug", SLUGS)
def test_reference_solution_passes_and_learns(
    slug: str, reference_outputs: dict[str, Path], data_dirs: dict[str, Path]
) -> None:
    """On a slice of Fashion-MNIST the reference passes every check and learns."""
    out = reference_outputs[slug]
    report = grade_output(slug, out, data_dirs)
    assert report.passed_checks, [c.message for c in report.checks if not c.passed]
    assert report.public_accuracy >= SLICE_ACCURACY[slug]
    assert report.private_accuracy >= SLICE_ACCURACY[slug]
    assert report.score > 0 and report.private_score > 0
    history = json.loads((out / "history.json").read_text())
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history)
