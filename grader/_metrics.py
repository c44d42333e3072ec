"""Read the hidden split and compute accuracies and the confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import SetupError

TEST_KEYS = ("x_public", "y_public", "x_private", "y_private")


@dataclass(frozen=True)
class TestSplit:
    """The hidden public and private test arrays."""

    x_public: np.ndarray
    y_public: np.ndarray
    x_private: np.ndarray
    y_private: np.ndarray

    @cached_property
    def x_all(self) -> np.ndarray:
        """Return public then private images, for a single forward pass."""
        return np.concatenate([self.x_public, self.x_private])

    @property
    def num_classes(self) -> int:
        """Return K, the number of classes (labels are 0..K-1)."""
        return int(max(self.y_public.max(), self.y_private.max())) + 1

    @property
    def image_shape(self) -> tuple[int, ...]:
        """Return one input's shape, e.g. (8, 8, 1) for images, (32,) for tokens."""
        return tuple(int(d) for d in self.x_public.shape[1:])


def load_test_split(path: Path) -> TestSplit:
    """Read ``test.npz`` (no pickles) or raise ``SetupError``."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in TEST_KEYS}
    except (OSError, ValueError, KeyError) as exc:
        raise SetupError(
            f"Cannot read the hidden test split {path}: {exc}. It must be an .npz "
            f"with {', '.join(TEST_KEYS)}."
        ) from exc
    for part in ("public", "private"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if x.ndim < 2 or y.ndim != 1 or len(x) != len(y) or len(y) == 0:
            raise SetupError(f"The hidden {part} split has inconsistent shapes.")
    return TestSplit(
        x_public=_inputs(arrays["x_public"]),
        y_public=arrays["y_public"].astype("int64", copy=False),
        x_private=_inputs(arrays["x_private"]),
        y_private=arrays["y_private"].astype("int64", copy=False),
    )


def _inputs(x: np.ndarray) -> np.ndarray:
    """Return images as float32 and token ids (an integer array) as int32."""
    if np.issubdtype(x.dtype, np.integer):
        return x.astype("int32", copy=False)
    return x.astype("float32", copy=False)


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Return the fraction of correct predictions."""
    return float(np.mean(y_true == y_pred))


def confusion(
    y_true: np.ndarray, y_pred: np.ndarray, *, num_classes: int
) -> np.ndarray:
    """Return a KxK matrix: rows are true classes, columns predictions."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    valid = y_pred >= 0
    np.add.at(matrix, (y_true[valid], y_pred[valid]), 1)
    return matrix


def per_class_accuracy(matrix: np.ndarray) -> list[float]:
    """Return recall per class from a confusion matrix (0.0 for an empty class)."""
    totals = matrix.sum(axis=1)
    return [
        round(float(matrix[k, k] / totals[k]), 6) if totals[k] else 0.0
        for k in range(len(matrix))
    ]


def majority_rate(y: np.ndarray) -> float:
    """Return the accuracy of always predicting the most common class."""
    return float(np.bincount(y).max() / len(y))


def misclassified(
    x: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, *, limit: int = 16
) -> list[dict[str, Any]]:
    """Return up to ``limit`` wrongly predicted images, taking each class in turn.

    Callers pass the public split only. Each image is its pixels as unsigned
    bytes (0-255, row-major H x W x C) in base64, small enough for a report; a
    token sequence (integer input) is its ids, padding left out.
    """
    import base64

    wrong = np.flatnonzero(y_true != y_pred)
    by_class = [wrong[y_true[wrong] == k] for k in np.unique(y_true[wrong])]
    picked: list[int] = []
    depth = 0
    while len(picked) < limit and any(depth < len(ids) for ids in by_class):
        picked += [int(ids[depth]) for ids in by_class if depth < len(ids)]
        depth += 1
    items = []
    for index in sorted(picked[:limit]):
        if np.issubdtype(x.dtype, np.integer):
            items.append(
                {
                    "index": index,
                    "true": int(y_true[index]),
                    "predicted": int(y_pred[index]),
                    "tokens": [int(t) for t in x[index] if t != 0],
                }
            )
            continue
        pixels = np.clip(np.rint(x[index] * 255), 0, 255).astype(np.uint8)
        items.append(
            {
                "index": index,
                "true": int(y_true[index]),
                "predicted": int(y_pred[index]),
                "pixels": base64.b64encode(pixels.tobytes()).decode("ascii"),
            }
        )
    return items
