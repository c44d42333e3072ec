"""Time grading with and without a spec's contribution (ablation) checks.

Shared by bench/ablation_cost.py and bench/regrade_batch.py (imported as
``_grading_cost``: a script's own folder is first on its path). Grades the DL101
CNN and transfer architectures (random weights: grading cost does not depend
on training) on a synthetic hidden split (random pixels, 28 x 28), in one
process with the split and base cached as batch mode does, once with the
pack's spec and once with its "contribution" section removed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# The budget: grading with the checks at most 1.5x the time without.
TARGET_RATIO = 1.5


@dataclass(frozen=True)
class AblationCost:
    """Seconds per model for one architecture, without and with the checks."""

    kind: str
    without_s: float
    with_s: float

    @property
    def ratio(self) -> float:
        return self.with_s / self.without_s


def _transfer(keras: Any, base_path: Path) -> Any:
    layers = keras.layers
    base = keras.saving.load_model(base_path, compile=False)
    base.trainable = False
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            base,
            layers.Dense(64, activation="relu"),
            layers.Dense(5, activation="softmax"),
        ]
    )


def untrained_base(keras: Any, path: Path) -> None:
    """Save the base's architecture (weights do not change grading cost)."""
    from assignments.transfer import base_architecture

    base_architecture(keras, (28, 28, 1)).save(path)


def synthetic_split(folder: Path, name: str, classes: int, per_half: int) -> Path:
    """Write a hidden split of ``per_half`` public + ``per_half`` private images."""
    rng = np.random.default_rng(0)
    y = np.arange(per_half) % classes
    x = rng.random((per_half, 28, 28, 1), dtype=np.float32)
    path = folder / f"{name}.npz"
    np.savez(path, x_public=x, y_public=y, x_private=x[::-1], y_private=y[::-1])
    return path


def _specs(kind: str) -> tuple[dict, dict]:
    """Return the pack's spec for ``kind`` with and without "contribution"."""
    spec = json.loads((REPO / "assignments/dl101" / kind / "spec.json").read_text())
    # Random weights cannot beat chance; that check costs nothing either way.
    spec["checks"]["beats_chance"] = False
    plain = json.loads(json.dumps(spec))
    plain["checks"].pop("contribution")
    return plain, spec


def _seconds_per_model(
    paths: list[Path], spec: dict, split: Path, base: Path | None
) -> float:
    from grader import grade
    from grader._grade import GradingCache

    cache = GradingCache(reuse_models=True)
    # A first grading outside the clock: the split, base and traces are cached.
    grade(paths[0], spec, split, base_model_path=base, cache=cache)
    start = time.perf_counter()
    for path in paths:
        report = grade(path, spec, split, base_model_path=base, cache=cache)
        assert report.status == "graded", report.reason
    return (time.perf_counter() - start) / len(paths)


def ablation_costs(
    folder: Path, *, count: int, per_half: int, kinds: tuple[str, ...]
) -> list[AblationCost]:
    """Grade ``count`` models of each kind with and without the checks.

    ``per_half`` is the size of each hidden half for the CNN (Fashion-MNIST's
    test set gives 5,000); the transfer split is half that (5 of 10 classes).
    """
    import keras

    from assignments.reference import reference_cnn

    base_path = folder / "base.keras"
    untrained_base(keras, base_path)
    costs = []
    for kind in kinds:
        paths = []
        for i in range(count):
            keras.utils.set_random_seed(i)
            if kind == "cnn":
                model = reference_cnn(keras, input_shape=(28, 28, 1), classes=10)
            else:
                model = _transfer(keras, base_path)
            paths.append(folder / f"{kind}-{i}.keras")
            model.save(paths[-1])
        if kind == "cnn":
            split = synthetic_split(folder, kind, 10, per_half)
        else:
            split = synthetic_split(folder, kind, 5, per_half // 2)
        base = base_path if kind == "transfer" else None
        plain, spec = _specs(kind)
        # Without, with, without again: the faster "without" is the baseline,
        # so a warming machine does not flatter the checks.
        first = _seconds_per_model(paths, plain, split, base)
        with_s = _seconds_per_model(paths, spec, split, base)
        again = _seconds_per_model(paths, plain, split, base)
        costs.append(AblationCost(kind, min(first, again), with_s))
    return costs


def print_costs(costs: list[AblationCost]) -> None:
    """Print one Markdown row per architecture, with the ratio against the target."""
    print(
        "| assignment | without checks s/model | with s/model | ratio "
        f"| target <= {TARGET_RATIO} |"
    )
    print("|---|---|---|---|---|")
    for cost in costs:
        verdict = "within" if cost.ratio <= TARGET_RATIO else "OVER"
        print(
            f"| {cost.kind} | {cost.without_s:.3f} | {cost.with_s:.3f} "
            f"| {cost.ratio:.2f}x | {verdict} |",
            flush=True,
        )
