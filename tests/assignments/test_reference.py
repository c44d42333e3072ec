"""Each reference solution, run as participant code, earns full marks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from grader import grade

from .conftest import PACK, SLUGS, load_spec, training_env


@pytest.fixture(scope="session")
def reference_outputs(
    data_dirs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Run the three solutions concurrently (TF import dominates each)."""
    runs = {}
    for slug in SLUGS:
        out = tmp_path_factory.mktemp(f"out-{slug}")
        process = subprocess.Popen(
            [sys.executable, str(PACK / slug / "solution.py")],
            cwd=out,
            env=training_env(data_dirs[slug], out),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        runs[slug] = (process, out)
    outputs = {}
    for slug, (process, out) in runs.items():
        log, _ = process.communicate(timeout=300)
        assert process.returncode == 0, log[-3000:]
        outputs[slug] = out
    return outputs


@pytest.mark.parametrize("slug", SLUGS)
def test_reference_solution_gets_full_marks(
    slug: str, reference_outputs: dict[str, Path], data_dirs: dict[str, Path]
) -> None:
    """The reference model passes every check with 100 on both test splits."""
    out = reference_outputs[slug]
    base = data_dirs[slug] / "base.keras" if slug == "transfer" else None
    report = grade(
        out / "model.keras",
        load_spec(slug),
        data_dirs[slug] / "test.npz",
        base_model_path=base,
    )
    assert report.status == "graded", report.reason
    assert report.passed_checks, [c.message for c in report.checks if not c.passed]
    assert report.score == 100 and report.private_score == 100
    history = json.loads((out / "history.json").read_text())
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history)
