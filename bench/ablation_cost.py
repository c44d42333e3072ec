"""Grading time per model with vs without the contribution (ablation) checks.

Grades the DL101 CNN and transfer architectures (random weights: grading cost
does not depend on training) on a hidden split of Fashion-MNIST's size (5,000
public + 5,000 private images of 28 x 28; random pixels), in one process with
the split and base cached as batch mode does, once with the pack's spec and
once with its "contribution" section removed. Prints seconds per model and
the ratio (target: at most 1.5).

Usage: .venv/bin/python bench/ablation_cost.py [--quick] [--models 6]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _models(keras, folder: Path, base_path: Path, count: int) -> dict[str, list[Path]]:
    layers = keras.layers
    paths: dict[str, list[Path]] = {"cnn": [], "transfer": []}
    for i in range(count):
        keras.utils.set_random_seed(i)
        cnn = keras.Sequential(
            [
                keras.Input(shape=(28, 28, 1)),
                layers.Conv2D(16, 3, padding="same", activation="relu"),
                layers.MaxPooling2D(),
                layers.Conv2D(32, 3, padding="same", activation="relu"),
                layers.MaxPooling2D(),
                layers.Flatten(),
                layers.Dropout(0.3),
                layers.Dense(64, activation="relu"),
                layers.Dropout(0.3),
                layers.Dense(10, activation="softmax"),
            ]
        )
        paths["cnn"].append(folder / f"cnn-{i}.keras")
        cnn.save(paths["cnn"][-1])
        base = keras.saving.load_model(base_path, compile=False)
        base.trainable = False
        transfer = keras.Sequential(
            [
                keras.Input(shape=(28, 28, 1)),
                base,
                layers.Dense(64, activation="relu"),
                layers.Dense(5, activation="softmax"),
            ]
        )
        paths["transfer"].append(folder / f"transfer-{i}.keras")
        transfer.save(paths["transfer"][-1])
    return paths


def _split(folder: Path, name: str, classes: int, per_half: int) -> Path:
    rng = np.random.default_rng(0)
    y = np.arange(per_half) % classes
    x = rng.random((per_half, 28, 28, 1), dtype=np.float32)
    path = folder / f"{name}.npz"
    np.savez(path, x_public=x, y_public=y, x_private=x[::-1], y_private=y[::-1])
    return path


def main() -> None:
    """Print per-model grading time with and without ablation, and the ratio."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--models", type=int, default=6)
    args = parser.parse_args()

    import keras

    from grader import grade
    from grader._grade import GradingCache

    count = 2 if args.quick else args.models
    per_half = 500 if args.quick else 5000
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        base_path = folder / "base.keras"
        _untrained_base(keras, base_path)
        models = _models(keras, folder, base_path, count)
        splits = {
            "cnn": _split(folder, "cnn", 10, per_half),
            "transfer": _split(folder, "transfer", 5, per_half // 2),
        }
        print(f"{count} models of each kind; hidden split {per_half} + {per_half}")
        print("| assignment | without ablation s/model | with s/model | ratio |")
        print("|---|---|---|---|")
        for kind, paths in models.items():
            spec = json.loads(
                (REPO / "assignments/dl101" / kind / "spec.json").read_text()
            )
            plain = json.loads(json.dumps(spec))
            plain["checks"].pop("contribution")
            plain["checks"]["beats_chance"] = False
            spec["checks"]["beats_chance"] = False
            base = base_path if kind == "transfer" else None
            timings = {}
            for label, used in (
                ("without", plain),
                ("with", spec),
                ("without2", plain),
            ):
                cache = GradingCache(reuse_models=True)
                grade(paths[0], used, splits[kind], base_model_path=base, cache=cache)
                start = time.perf_counter()
                for path in paths:
                    report = grade(
                        path, used, splits[kind], base_model_path=base, cache=cache
                    )
                    assert report.status == "graded", report.reason
                timings[label] = (time.perf_counter() - start) / len(paths)
            without = min(timings["without"], timings["without2"])
            print(
                f"| {kind} | {without:.3f} | {timings['with']:.3f} "
                f"| {timings['with'] / without:.2f} |",
                flush=True,
            )


def _untrained_base(keras, path: Path) -> None:
    """Save the base's architecture (weights do not change grading cost)."""
    layers = keras.layers
    inputs = keras.Input(shape=(28, 28, 1), name="base_input")
    h = layers.Conv2D(16, 3, padding="same", activation="relu", name="base_conv1")(
        inputs
    )
    h = layers.MaxPooling2D(name="base_pool1")(h)
    h = layers.Conv2D(32, 3, padding="same", activation="relu", name="base_conv2")(h)
    h = layers.MaxPooling2D(name="base_pool2")(h)
    features = layers.Flatten(name="base_features")(h)
    keras.Model(inputs, features, name="dl101_base").save(path)


if __name__ == "__main__":
    main()
