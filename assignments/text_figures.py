"""Figures of a text pack's theory notes, from the workshop's own training split.

Counted when the workshop is loaded (no training: the split's word ids and
labels only): how many definitions each category has, and how many words the
definitions hold. The result is plain numbers (JSON); the site draws them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from assignments.text import PAD

TEXT_FIGURES = ("class-balance", "definition-lengths")


def text_figures(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Return the class counts and the histogram of definition lengths.

    ``x`` holds word ids (padding is 0, after the words); a definition's length
    is its count of non-padding ids, so one cut at the sequence length counts
    as that length.
    """
    classes = int(y.max()) + 1 if len(y) else 0
    counts = np.bincount(y.astype("int64"), minlength=classes)
    lengths = np.count_nonzero(x != PAD, axis=1)
    histogram = np.bincount(lengths, minlength=x.shape[1] + 1)[1:]
    return {
        "class-balance": {"counts": [int(c) for c in counts]},
        "definition-lengths": {
            "lengths": list(range(1, x.shape[1] + 1)),
            "definitions": [int(c) for c in histogram],
            "cut": int(np.count_nonzero(lengths == x.shape[1])),
        },
    }


def build_text_figures(out_path: Path, *, train_dir: Path) -> dict[str, Any]:
    """Count the figures of ``train_dir``'s ``train.npz``; write them (JSON)."""
    with np.load(Path(train_dir) / "train.npz") as train:
        figures = text_figures(train["x"], train["y"])
    out_path = Path(out_path)
    tmp = out_path.with_name(out_path.name + ".tmp")
    tmp.write_text(json.dumps(figures))
    os.replace(tmp, out_path)
    return figures
