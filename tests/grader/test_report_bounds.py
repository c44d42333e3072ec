"""What a participant's model makes the grader write stays small."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grader import REPORT_MAX_BYTES, BatchItem, grade_batch

from .conftest import load_spec

LONG = 30_000


def _nested_long_names(keras: Any) -> Any:
    """Return an MLP nested four models deep, every name 30,000 characters."""
    inner = keras.Sequential(
        [keras.Input(shape=(64,))]
        + [
            keras.layers.Dense(16, activation="relu", name=f"{i}" + "d" * LONG)
            for i in range(12)
        ],
        name="a" * LONG,
    )
    for level in range(3):
        inner = keras.Sequential(
            [keras.Input(shape=(64,)), inner], name=f"{level}" + "m" * LONG
        )
    return keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1)),
            keras.layers.Flatten(name="f" * LONG),
            inner,
            keras.layers.Dense(10, activation="softmax", name="o" * LONG),
        ]
    )


def test_a_model_with_huge_nested_layer_names_gets_a_small_report(
    make_model: Callable[..., Path], digits_dir: Path
) -> None:
    """Layer paths of 120,000 characters are cut where the grader writes them.

    Listed in full, this model's layers made a report of megabytes, and a chunk
    of them a reports.json the site refused as the platform's fault.
    """
    model = make_model("long_names", _nested_long_names, epochs=0)
    reports = grade_batch(
        [
            BatchItem(
                id="1", model=model, spec=load_spec("mlp"), data=digits_dir / "test.npz"
            )
        ]
    )
    report = reports[0]
    assert report.status == "graded", report.reason
    assert len(report.layers) == 14
    assert max(len(layer.name) for layer in report.layers) <= 200
    assert all(len(check.message) <= 2_000 for check in report.checks)
    assert len(json.dumps(report.to_dict())) <= REPORT_MAX_BYTES
