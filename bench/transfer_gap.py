"""Measure how much the frozen base helps with few labelled images.

For each training size (images per class of the five target classes 5-9), and
each of three seeds, train on the same images with the same budget (epochs,
batch size, optimizer):

- transfer: the published base (built by ``assignments.transfer.build_base``
  from classes 0-4 only), frozen, with the reference head (Dense 64, Dense 5);
- scratch: the same architecture (Conv16-Pool-Conv32-Pool-Flatten-Dense64-Dense5)
  from random weights, all of it trained.

Both are scored on the whole hidden split of the target classes (the official
test images of classes 5-9, public and private halves together). The table
gives the mean accuracy over seeds, the gap, and the mean training time; the
last line names the smallest size whose mean gap is at least 10 points, the
transfer assignment's training size.

Usage: .venv/bin/python bench/transfer_gap.py [--quick] [--sizes 5 10 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TARGET_CLASSES = [5, 6, 7, 8, 9]
# The reference solution's budget: keep in step with transfer/solution.py
# (both models train like it: these epochs and batches, 10% held out).
EPOCHS = 10
BATCH_SIZE = 16
MIN_GAP = 0.10


def _head(keras: Any, trunk: Any, input_shape: tuple[int, ...]) -> Any:
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input(shape=input_shape),
            trunk,
            layers.Dense(64, activation="relu"),
            layers.Dense(len(TARGET_CLASSES), activation="softmax"),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def train_and_score(
    *,
    kind: str,
    base_path: Path,
    x: np.ndarray,
    y: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    seed: int,
    epochs: int,
) -> tuple[float, float]:
    """Train one model; return (hidden accuracy, training seconds)."""
    import keras

    from assignments.reference import cnn_trunk

    keras.utils.set_random_seed(seed)
    if kind == "transfer":
        trunk = keras.saving.load_model(base_path, compile=False)
        trunk.trainable = False
    else:
        trunk = cnn_trunk(keras, input_shape=x.shape[1:])
    model = _head(keras, trunk, x.shape[1:])
    start = time.monotonic()
    model.fit(
        x,
        y,
        validation_split=0.1,
        epochs=epochs,
        batch_size=BATCH_SIZE,
        verbose=0,
        shuffle=True,
    )
    seconds = time.monotonic() - start
    pred = np.argmax(model.predict(x_test, batch_size=1024, verbose=0), axis=1)
    return float(np.mean(pred == y_test)), seconds


def main() -> None:
    """Print the few-shot table and the chosen training size."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="tiny sizes, seconds")
    parser.add_argument("--sizes", type=int, nargs="+")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument(
        "--test-per-class", type=int, help="a slice of the hidden split"
    )
    parser.add_argument("--base", type=Path, help="reuse (or keep) the base here")
    args = parser.parse_args()

    from assignments.datasets import load_data, per_class, select_classes
    from assignments.transfer import build_base

    quick = args.quick
    sizes = args.sizes or ([5] if quick else [5, 10, 20, 50, 100, 200])
    seeds = list(range(1 if quick else args.seeds))
    epochs = 2 if quick else args.epochs
    data = load_data("fashion-mnist")
    x_all, y_all = select_classes(data.x, data.y, TARGET_CLASSES)
    x_test, y_test = select_classes(data.x_test, data.y_test, TARGET_CLASSES)
    test_slice = 40 if quick else args.test_per_class
    if test_slice:
        x_test, y_test = per_class(x_test, y_test, test_slice, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        base_path = args.base or Path(tmp) / "base.keras"
        start = time.monotonic()
        if not base_path.is_file():
            # The workshop's own base: classes 0-4 only (quick: a small slice).
            build_base(
                base_path,
                dataset={"source": "fashion-mnist"},
                train_per_class=100 if quick else None,
                epochs=1 if quick else 3,
            )
        print(
            f"base built in {time.monotonic() - start:.0f} s; "
            f"hidden split {len(y_test)} images; {epochs} epochs, batch "
            f"{BATCH_SIZE}, seeds {seeds}",
            flush=True,
        )
        print(
            "| images/class | scratch acc | transfer acc | gap (points) "
            "| scratch s | transfer s |"
        )
        print("|---|---|---|---|---|---|")
        chosen = None
        for size in sizes:
            runs: dict[str, list[tuple[float, float]]] = {"scratch": [], "transfer": []}
            for seed in seeds:
                x, y = per_class(x_all, y_all, size, seed=seed)
                for kind in runs:
                    runs[kind].append(
                        train_and_score(
                            kind=kind,
                            base_path=base_path,
                            x=x,
                            y=y,
                            x_test=x_test,
                            y_test=y_test,
                            seed=seed,
                            epochs=epochs,
                        )
                    )
            acc = {k: np.mean([a for a, _ in v]) for k, v in runs.items()}
            secs = {k: np.mean([s for _, s in v]) for k, v in runs.items()}
            spread = {k: np.std([a for a, _ in v]) for k, v in runs.items()}
            gap = acc["transfer"] - acc["scratch"]
            print(
                f"| {size} | {acc['scratch']:.1%} ± {spread['scratch']:.1%} "
                f"| {acc['transfer']:.1%} ± {spread['transfer']:.1%} "
                f"| {gap * 100:+.1f} | {secs['scratch']:.1f} "
                f"| {secs['transfer']:.1f} |",
                flush=True,
            )
            if chosen is None and gap >= MIN_GAP:
                chosen = size
        print(f"smallest size with a gap of at least {MIN_GAP:.0%}: {chosen}")


if __name__ == "__main__":
    main()
