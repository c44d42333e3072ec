"""The reference CNN the project builds is the one participants read in the solution.

`assignments/dl101/cnn/solution.py` stays a script a participant runs as it
stands, so it writes the model out rather than importing it: its model statement
is built here and compared, layer by layer, with `assignments.reference`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from assignments.reference import cnn_trunk, reference_cnn

SOLUTION = Path(__file__).resolve().parents[2] / "assignments/dl101/cnn/solution.py"


def _solution_model(keras, *, shape: tuple[int, ...], classes: int):
    """Build the model exactly as the solution's `model = ...` statement does."""
    tree = ast.parse(SOLUTION.read_text())
    statement = next(
        node
        for node in tree.body
        if isinstance(node, ast.Assign)
        and [getattr(t, "id", None) for t in node.targets] == ["model"]
    )
    scope = {
        "keras": keras,
        "layers": keras.layers,
        "x_train": np.zeros((1, *shape), dtype="float32"),
        "num_classes": classes,
    }
    exec(compile(ast.Module([statement], []), str(SOLUTION), "exec"), scope)  # noqa: S102
    return scope["model"]


def _layers(model) -> list[tuple[str, dict]]:
    """Return each layer's class and configuration, less the generated name."""
    return [
        (
            type(layer).__name__,
            {k: v for k, v in layer.get_config().items() if k != "name"},
        )
        for layer in model.layers
    ]


def test_the_reference_cnn_is_the_solutions_model():
    import keras

    solution = _solution_model(keras, shape=(28, 28, 1), classes=10)
    reference = reference_cnn(keras, input_shape=(28, 28, 1), classes=10)
    assert _layers(reference) == _layers(solution)
    assert reference.count_params() == solution.count_params()
    assert [type(layer).__name__ for layer in solution.layers][:2] == [
        "Conv2D",
        "MaxPooling2D",
    ]


def test_the_trunk_is_the_cnns_first_layers():
    import keras

    trunk = cnn_trunk(keras, input_shape=(28, 28, 1))
    full = reference_cnn(keras, input_shape=(28, 28, 1), classes=10)
    assert _layers(trunk) == _layers(full)[: len(trunk.layers)]
    assert type(trunk.layers[-1]).__name__ == "Flatten"
