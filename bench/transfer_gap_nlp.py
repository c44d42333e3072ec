"""Measure how much GloVe vectors help the DL4NLP sequence network with few labels.

For each training size (labelled definitions per category, ten categories) and
each of three seeds, the same network (``assignments.reference_nlp``:
Embedding 50 -> Conv1D 64 -> global max pooling -> Dropout -> Dense 10) learns
from the same definitions with the same budget:

- scratch: the Embedding starts random and is trained with the rest;
- glove: the Embedding starts from GloVe 6B 50d (the pack's ``glove.npy``,
  only the task's vocabulary) and stays frozen.

Both are scored on the pack's public hidden split (6,325 definitions). The
table gives mean accuracy ± spread over seeds, the gap in points and as a
ratio against scratch, and training seconds; the last lines give the gap at
the few-shot assignment's own size (``dataset.train_per_class`` in its spec,
which should be at least 10 points) and the smallest size that reaches 10.

Usage: .venv/bin/python bench/transfer_gap_nlp.py [--quick] [--sizes 5 10 20]
(the assignment's table: --sizes 5 10 20, 3 seeds, about 5 minutes on 2 cores)
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

SPEC = REPO / "assignments" / "dl4nlp" / "fewshot" / "spec.json"
# The few-shot reference's budget: keep in step with fewshot/solution.py.
EPOCHS = 30
BATCH_SIZE = 16
MIN_GAP = 0.10


def train_and_score(
    *,
    kind: str,
    data: dict[str, np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    seed: int,
    epochs: int,
) -> tuple[float, float]:
    """Train one model; return (public hidden accuracy, training seconds)."""
    import keras

    from assignments.reference_nlp import sequence_model

    keras.utils.set_random_seed(seed)
    model = sequence_model(
        keras,
        vocabulary_size=len(data["glove"]),
        length=x.shape[1],
        classes=int(data["y_public"].max()) + 1,
        embeddings=data["glove"] if kind == "glove" else None,
    )
    model.compile(
        optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    start = time.monotonic()
    model.fit(x, y, epochs=epochs, batch_size=BATCH_SIZE, verbose=0, shuffle=True)
    seconds = time.monotonic() - start
    scores = model.predict(data["x_public"], batch_size=1024, verbose=0)
    return float(np.mean(np.argmax(scores, axis=1) == data["y_public"])), seconds


def main() -> None:
    """Print the few-shot table and the chosen training size."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="tiny sizes, seconds")
    parser.add_argument("--sizes", type=int, nargs="+")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    args = parser.parse_args()

    from assignments.datasets import materialize, per_class

    quick = args.quick
    dataset = dict(json.loads(SPEC.read_text())["dataset"])
    assignment_size = dataset.pop("train_per_class", None)
    sizes = args.sizes or ([assignment_size] if quick else [5, 10, 20, 50])
    seeds = list(range(1 if quick else args.seeds))
    epochs = 2 if quick else args.epochs
    with tempfile.TemporaryDirectory() as tmp:
        start = time.monotonic()
        materialize(dataset, Path(tmp), test_per_class=80 if quick else None)
        with np.load(Path(tmp) / "train.npz", allow_pickle=False) as train:
            x_all, y_all = train["x"], train["y"]
        with np.load(Path(tmp) / "test.npz", allow_pickle=False) as test:
            data = {k: test[k] for k in ("x_public", "y_public")}
        data["glove"] = np.load(Path(tmp) / "glove.npy", allow_pickle=False)
    print(
        f"data built in {time.monotonic() - start:.0f} s; public split "
        f"{len(data['y_public'])} definitions; {epochs} epochs, batch "
        f"{BATCH_SIZE}, seeds {seeds}",
        flush=True,
    )
    print(
        "| labels/class | scratch acc | glove acc | gap (points) | glove/scratch "
        "| scratch s | glove s |"
    )
    print("|---|---|---|---|---|---|---|")
    chosen, gaps = None, {}
    for size in sizes:
        results: dict[str, list[tuple[float, float]]] = {"scratch": [], "glove": []}
        for seed in seeds:
            x, y = per_class(x_all, y_all, size, seed=seed)
            for kind in results:
                results[kind].append(
                    train_and_score(
                        kind=kind, data=data, x=x, y=y, seed=seed, epochs=epochs
                    )
                )
        acc = {k: np.array([a for a, _ in v]) for k, v in results.items()}
        secs = {k: np.mean([s for _, s in v]) for k, v in results.items()}
        gap = acc["glove"].mean() - acc["scratch"].mean()
        ratio = acc["glove"].mean() / max(acc["scratch"].mean(), 1e-9)
        print(
            f"| {size} | {acc['scratch'].mean():.1%} ± {acc['scratch'].std():.1%} "
            f"| {acc['glove'].mean():.1%} ± {acc['glove'].std():.1%} "
            f"| {100 * gap:+.1f} | {ratio:.2f}x | {secs['scratch']:.1f} "
            f"| {secs['glove']:.1f} |",
            flush=True,
        )
        gaps[size] = gap
        if chosen is None and gap >= MIN_GAP:
            chosen = size
    if assignment_size in gaps:
        gap = gaps[assignment_size]
        verdict = "meets" if gap >= MIN_GAP else "is below"
        print(
            f"the few-shot assignment ({assignment_size} per class): gap "
            f"{100 * gap:+.1f} points, {verdict} the {100 * MIN_GAP:.0f}-point target"
        )
    if chosen is None:
        print(f"no size reached a {MIN_GAP:.0%} gap")
    else:
        print(f"smallest size with a gap of at least {MIN_GAP:.0%}: {chosen} per class")


if __name__ == "__main__":
    main()
