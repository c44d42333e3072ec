"""A warm evaluator: the evaluation sandbox started ahead, TensorFlow imported.

Real bwrap, a real grader and a real (tiny, untrained) Keras model on 8 x 8 digits.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from workers import sandbox
from workers.evaluation import evaluate_many, evaluator_spare

PACK = Path(__file__).resolve().parents[2] / "assignments" / "dl101"


@pytest.fixture(scope="module")
def root() -> Iterator[Path]:
    """Return a folder every sandbox uid can traverse, with data and one model."""
    import keras

    from assignments.datasets import materialize

    path = Path(tempfile.mkdtemp(prefix="dojo-warm-eval-", dir="/tmp"))
    path.chmod(0o755)
    spec = json.loads((PACK / "mlp" / "spec.json").read_text())
    spec["dataset"] = {**spec["dataset"], "source": "sklearn-digits"}
    spec["checks"]["input_shape"] = [8, 8, 1]
    (path / "spec.json").write_text(json.dumps(spec))
    materialize(spec["dataset"], path / "data", train_per_class=5, test_per_class=20)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.save(path / "model.keras")
    for sub in path.rglob("*"):
        sub.chmod(0o755 if sub.is_dir() else 0o644)
    yield path
    sandbox.remove_tree(path)


def _job(root: Path) -> dict[str, Any]:
    return {
        "id": "7",
        "model": str(root / "model.keras"),
        "spec": json.loads((root / "spec.json").read_text()),
        "data": str(root / "data" / "test.npz"),
        "base": None,
    }


COMMON = {"backend": "bwrap", "env": {"TF_CPP_MIN_LOG_LEVEL": "3"}}


def test_warm_evaluator_grades_exactly_like_a_cold_one(root: Path) -> None:
    """The same model gets the same report warm (spare) and cold."""
    work_root = root / "work"
    cold = evaluate_many(
        [_job(root)],
        work_root=work_root,
        name="cold",
        wall_seconds=120,
        memory_bytes=3 * 1024**3,
        **COMMON,
    )
    folders = [str(root / "data")]
    spare = evaluator_spare(
        work_root=work_root,
        name="warm",
        data_folders=folders,
        wall_seconds=120,
        memory_bytes=3 * 1024**3,
        key="mlp",
        **COMMON,
    )
    warm = evaluate_many(
        [_job(root)],
        work_root=work_root,
        name="warm",
        wall_seconds=120,
        memory_bytes=3 * 1024**3,
        spare=spare,
        spare_folders=folders,
        **COMMON,
    )
    assert cold.reports["7"]["status"] == "graded", cold.result.log
    assert warm.reports == cold.reports
    assert not spare.alive()
    assert list(work_root.iterdir()) == []


def test_evaluator_for_other_data_is_discarded_and_grading_runs_cold(
    root: Path,
) -> None:
    """A spare that cannot see this job's hidden split is never used."""
    other = root / "other-data"
    other.mkdir(exist_ok=True)
    other.chmod(0o755)
    work_root = root / "work2"
    spare = evaluator_spare(
        work_root=work_root,
        name="warm",
        data_folders=[str(other)],
        wall_seconds=120,
        memory_bytes=3 * 1024**3,
        **COMMON,
    )
    outcome = evaluate_many(
        [_job(root)],
        work_root=work_root,
        name="warm",
        wall_seconds=120,
        memory_bytes=3 * 1024**3,
        spare=spare,
        spare_folders=[str(other)],
        **COMMON,
    )
    assert not spare.alive()
    assert outcome.reports["7"]["status"] == "graded", outcome.result.log


def test_a_run_gets_its_own_wall_budget_but_never_more_cpu_than_the_spare_has(
    root: Path,
) -> None:
    """A warm evaluator's CPU limit is set when it starts: a run that needs more
    (a long regrade chunk) runs cold; one within it runs warm on its own wall
    budget, which counts from the handover."""
    work_root, folders = root / "work3", [str(root / "data")]
    memory = 3 * 1024**3

    def grade_in(name: str, longest_seconds: int | None) -> tuple[Any, Any]:
        """Start a 60 s spare for ``longest_seconds``; grade with a 120 s run."""
        spare = evaluator_spare(
            work_root=work_root,
            name=name,
            data_folders=folders,
            wall_seconds=60,
            longest_seconds=longest_seconds,
            memory_bytes=memory,
            **COMMON,
        )
        outcome = evaluate_many(
            [_job(root)],
            work_root=work_root,
            name=name,
            wall_seconds=120,
            memory_bytes=memory,
            spare=spare,
            spare_folders=folders,
            **COMMON,
        )
        assert not spare.alive()
        return outcome, outcome.result.limits

    cold, limits = grade_in("short", None)
    assert cold.reports["7"]["status"] == "graded", cold.result.log
    assert (limits.wall_seconds, limits.cpu_seconds) == (120, 480), (
        "a fresh sandbox with the run's own limits"
    )
    warm, limits = grade_in("long", 600)
    assert warm.reports == cold.reports
    assert (limits.wall_seconds, limits.cpu_seconds) == (120, 2400), (
        "the spare's CPU limit, this run's wall budget"
    )
    assert list(work_root.iterdir()) == []
