"""Starter notebooks are valid, current, and run to a passing model once filled."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

from assignments.build_starters import EXERCISE_TAG, main, parse_solution

from .conftest import (
    PACK,
    SLICE_ACCURACY,
    SLUGS,
    grade_output,
    run_all,
    training_env,
)

RUNNER = """
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, kernel_name="dojo-test", timeout=240).execute()
"""


def test_starters_are_up_to_date() -> None:
    """Committed starters equal what build_starters makes from the solutions."""
    assert main(["--check", str(PACK)]) == 0


@pytest.mark.parametrize("slug", SLUGS)
def test_starter_is_valid_with_marked_exercises(slug: str) -> None:
    """Each starter validates and its exercise cells are tagged TODO stubs."""
    notebook = nbformat.read(PACK / slug / "starter.ipynb", as_version=4)
    nbformat.validate(notebook)
    exercises = [
        c for c in notebook.cells if EXERCISE_TAG in c.metadata.get("tags", [])
    ]
    assert len(exercises) == 2
    for cell in exercises:
        assert "# TODO" in cell.source and "NotImplementedError" in cell.source
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    assert "DOJO_DATA_DIR" in code and "model.keras" in code
    assert "history.json" in code


def fill(slug: str) -> nbformat.NotebookNode:
    """Return the starter with each exercise cell replaced by the reference code."""
    notebook = nbformat.read(PACK / slug / "starter.ipynb", as_version=4)
    answers = {
        cell.exercise: cell.source
        for cell in parse_solution((PACK / slug / "solution.py").read_text())
        if cell.kind == "exercise"
    }
    for cell in notebook.cells:
        if EXERCISE_TAG in cell.metadata.get("tags", []):
            cell.source = answers[cell.metadata["dojo"]["exercise"]]
    return notebook


# Run in Jupyter here: the smallest starter, so a filled starter is shown to
# run under a kernel as a participant runs it at home. The others' code is the
# reference solution cell for cell (next test), and tests/e2e/test_pipeline.py
# trains those references through the real worker: training them here too
# proved the same code twice (about 40 s of the suite's two cores).
IN_JUPYTER = ("hello",)


@pytest.mark.parametrize("slug", SLUGS)
def test_a_filled_starter_is_its_reference_solution_cell_for_cell(slug: str) -> None:
    solution = (PACK / slug / "solution.py").read_text(encoding="utf-8")
    reference = [c.source for c in parse_solution(solution) if c.kind != "markdown"]
    filled = [c.source for c in fill(slug).cells if c.cell_type == "code"]
    assert filled == reference
    compile("\n".join(filled), f"{slug}-starter", "exec")


@pytest.fixture(scope="session")
def notebook_outputs(
    data_dirs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Execute the filled starters of IN_JUPYTER under nbclient."""
    jupyter = tmp_path_factory.mktemp("jupyter")
    kernel_dir = jupyter / "kernels" / "dojo-test"
    kernel_dir.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec = {"argv": argv, "display_name": "dojo test", "language": "python"}
    (kernel_dir / "kernel.json").write_text(json.dumps(spec))
    jobs = {}
    for slug in IN_JUPYTER:
        out = tmp_path_factory.mktemp(f"nb-{slug}")
        path = out / "filled.ipynb"
        nbformat.write(fill(slug), path)
        env = {
            **training_env(data_dirs[slug], out),
            "JUPYTER_PATH": str(jupyter),
            "JUPYTER_CONFIG_DIR": str(jupyter / "config"),
            "JUPYTER_DATA_DIR": str(jupyter / "data"),
            "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"),
            "IPYTHONDIR": str(jupyter / "ipython"),
        }
        jobs[slug] = ([sys.executable, "-c", RUNNER, str(path)], out, env)
    return run_all(jobs, timeout=400)


@pytest.mark.parametrize("slug", IN_JUPYTER)
def test_filled_starter_trains_a_passing_model(
    slug: str, notebook_outputs: dict[str, Path], data_dirs: dict[str, Path]
) -> None:
    """A starter whose TODOs hold the reference code trains a passing model
    under a Jupyter kernel; the other references train through the real
    worker in tests/e2e/test_pipeline.py (and hello's nowhere else)."""
    out = notebook_outputs[slug]
    report = grade_output(slug, out, data_dirs)
    assert report.passed_checks, [c.message for c in report.checks if not c.passed]
    assert report.public_accuracy >= SLICE_ACCURACY[slug]
    assert report.private_accuracy >= SLICE_ACCURACY[slug]
    assert report.score > 0 and report.private_score > 0
    history = json.loads((out / "history.json").read_text())
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history)
