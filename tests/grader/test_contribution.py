"""Required layers must feed the prediction: models that only carry them fail.

Each cheating model does its real work on a path without the required layer
and keeps the layer where it cannot matter: multiplied by zero, added with zero
weight, or concatenated and then ignored. The references (good_cnn,
good_transfer in test_grade.py) pass the same checks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader import GradeReport, grade

from .conftest import load_spec


def _check(report: GradeReport, check_id: str) -> Any:
    return next(c for c in report.checks if c.id == check_id)


def _real_logits(keras: Any, inputs: Any, classes: int) -> Any:
    """Do the real work without any convolution: a small MLP."""
    layers = keras.layers
    h = layers.Flatten()(inputs)
    h = layers.Dense(32, activation="relu")(h)
    h = layers.Dropout(0.1)(h)
    return layers.Dense(classes)(h)


def _zeros(keras: Any, units: int) -> Any:
    return keras.layers.Dense(
        units, kernel_initializer="zeros", bias_initializer="zeros", trainable=False
    )


def _finish(keras: Any, inputs: Any, logits: Any) -> Any:
    outputs = keras.layers.Activation("softmax")(logits)
    return keras.Model(inputs, outputs)


def _convs(keras: Any, inputs: Any) -> Any:
    layers = keras.layers
    h = layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    h = layers.Conv2D(4, 3, padding="same", activation="relu")(h)
    return layers.Flatten()(layers.MaxPooling2D()(h))


def cnn_multiplied(keras: Any) -> Any:
    """Two convolutions whose output is multiplied by a frozen zero."""
    inputs = keras.Input(shape=(8, 8, 1))
    features = _convs(keras, inputs)
    side = keras.layers.Multiply()(
        [keras.layers.Dense(10)(features), _zeros(keras, 10)(features)]
    )
    logits = keras.layers.Add()([_real_logits(keras, inputs, 10), side])
    return _finish(keras, inputs, logits)


def cnn_zero_added(keras: Any) -> Any:
    """Two convolutions added to the prediction through a frozen all-zero Dense."""
    inputs = keras.Input(shape=(8, 8, 1))
    side = _zeros(keras, 10)(_convs(keras, inputs))
    logits = keras.layers.Add()([_real_logits(keras, inputs, 10), side])
    return _finish(keras, inputs, logits)


def cnn_concatenated(keras: Any) -> Any:
    """Convolutions concatenated with the pixels; the rows get zeroed after training."""
    layers = keras.layers
    inputs = keras.Input(shape=(8, 8, 1))
    both = layers.Concatenate()([_convs(keras, inputs), layers.Flatten()(inputs)])
    h = layers.Dense(32, activation="relu", name="mix")(both)
    h = layers.Dropout(0.1)(h)
    return _finish(keras, inputs, layers.Dense(10)(h))


def _base(keras: Any, transfer_dir: Path) -> Any:
    base = keras.saving.load_model(transfer_dir / "base.keras", compile=False)
    base.trainable = False
    return base


def transfer_multiplied(transfer_dir: Path) -> Callable[[Any], Any]:
    def build(keras: Any) -> Any:
        inputs = keras.Input(shape=(8, 8, 1))
        features = _base(keras, transfer_dir)(inputs)
        side = keras.layers.Multiply()(
            [keras.layers.Dense(5)(features), _zeros(keras, 5)(features)]
        )
        logits = keras.layers.Add()([_real_logits(keras, inputs, 5), side])
        return _finish(keras, inputs, logits)

    return build


def transfer_zero_added(transfer_dir: Path) -> Callable[[Any], Any]:
    """The issue's example: the base feeds a frozen all-zero Dense added in."""

    def build(keras: Any) -> Any:
        inputs = keras.Input(shape=(8, 8, 1))
        side = _zeros(keras, 5)(_base(keras, transfer_dir)(inputs))
        logits = keras.layers.Add()([_real_logits(keras, inputs, 5), side])
        return _finish(keras, inputs, logits)

    return build


def transfer_concatenated(transfer_dir: Path) -> Callable[[Any], Any]:
    def build(keras: Any) -> Any:
        layers = keras.layers
        inputs = keras.Input(shape=(8, 8, 1))
        both = layers.Concatenate()(
            [_base(keras, transfer_dir)(inputs), layers.Flatten()(inputs)]
        )
        h = layers.Dense(32, activation="relu", name="mix")(both)
        return _finish(keras, inputs, layers.Dense(5)(h))

    return build


def _ignore_first(path: Path, width: int) -> Path:
    """Zero the mixing layer's weights for the first ``width`` inputs."""
    import keras

    model = keras.saving.load_model(path, compile=False)
    mix = model.get_layer("mix")
    kernel, bias = mix.get_weights()
    kernel[:width] = 0.0
    mix.set_weights([kernel, bias])
    out = path.with_name(path.stem + "_ignored.keras")
    model.save(out)
    return out


@pytest.mark.parametrize(
    "build",
    [cnn_multiplied, cnn_zero_added, cnn_concatenated],
    ids=lambda b: b.__name__,
)
def test_cnn_cheats_fail_conv_contribution(
    build: Callable[[Any], Any], make_model: Callable[..., Path], digits_dir: Path
) -> None:
    """Convolutions that do not feed the prediction fail with what was measured."""
    path = make_model(build.__name__, build, data_dir=digits_dir)
    if build is cnn_concatenated:
        path = _ignore_first(path, width=4 * 4 * 4)
    report = grade(path, load_spec("cnn"), digits_dir / "test.npz")
    assert report.status == "graded", report.reason
    failed = [c.id for c in report.checks if not c.passed]
    assert failed == ["contribution:Conv2D"], [c.message for c in report.checks]
    message = _check(report, "contribution:Conv2D").message
    assert "shuffled across images, accuracy " in message
    assert "(it must fall by " in message and "%" not in message
    assert "does not feed your prediction" in message
    assert report.public_accuracy > 0.5  # the MLP path really works
    assert report.score <= 50


@pytest.mark.parametrize(
    "build", [transfer_multiplied, transfer_zero_added, transfer_concatenated]
)
def test_transfer_cheats_fail_base_contribution(
    build: Callable[[Path], Any],
    make_model: Callable[..., Path],
    transfer_dir: Path,
) -> None:
    """A frozen, unchanged base that does not feed the prediction fails."""
    path = make_model(build.__name__, build(transfer_dir), data_dir=transfer_dir)
    if build is transfer_concatenated:
        import keras

        base = keras.saving.load_model(transfer_dir / "base.keras", compile=False)
        path = _ignore_first(path, width=int(np.prod(base.output.shape[1:])))
    report = grade(
        path,
        load_spec("transfer"),
        transfer_dir / "test.npz",
        base_model_path=transfer_dir / "base.keras",
    )
    assert report.status == "graded", report.reason
    failed = [c.id for c in report.checks if not c.passed]
    assert failed == ["contribution:base"], [c.message for c in report.checks]
    message = _check(report, "contribution:base").message
    assert message.startswith("With your base's output shuffled across images, ")
    assert "the base does not feed" in message and "%" not in message
    assert report.score <= 50


def test_references_pass_with_measured_drop(
    good_cnn: Path, good_transfer: Path, digits_dir: Path, transfer_dir: Path
) -> None:
    """The real CNN and transfer models pass, and the message gives the drop."""
    cnn = grade(good_cnn, load_spec("cnn"), digits_dir / "test.npz")
    assert _check(cnn, "contribution:Conv2D").passed
    assert "accuracy falls by " in _check(cnn, "contribution:Conv2D").message
    # The report's one accuracy is public_accuracy: no message quotes another.
    assert not [c.message for c in cnn.checks if "%" in c.message]
    transfer = grade(
        good_transfer,
        load_spec("transfer"),
        transfer_dir / "test.npz",
        base_model_path=transfer_dir / "base.keras",
    )
    check = _check(transfer, "contribution:base")
    assert check.passed and "the base feeds your prediction" in check.message


def test_shared_conv_is_refused_clearly(
    make_model: Callable[..., Path], digits_dir: Path
) -> None:
    """A convolution called twice cannot be ablated: a failed check, not an error."""

    def build(keras: Any) -> Any:
        layers = keras.layers
        inputs = keras.Input(shape=(8, 8, 1))
        shared = layers.Conv2D(1, 3, padding="same", activation="relu")
        h = shared(shared(inputs))
        h = layers.Conv2D(8, 3, padding="same", activation="relu")(h)
        h = layers.Dropout(0.1)(layers.Flatten()(layers.MaxPooling2D()(h)))
        return keras.Model(inputs, layers.Dense(10, activation="softmax")(h))

    path = make_model("shared_conv", build, data_dir=digits_dir)
    report = grade(path, load_spec("cnn"), digits_dir / "test.npz")
    assert report.status == "graded", report.reason
    check = _check(report, "contribution:Conv2D")
    assert not check.passed
    assert "called 2 times" in check.message and "shared layer" in check.message


def test_model_without_the_layer_gets_a_message(
    good_mlp: Path, digits_dir: Path
) -> None:
    """A model with no Conv2D at all says so; nothing crashes."""
    report = grade(good_mlp, load_spec("cnn"), digits_dir / "test.npz")
    assert report.status == "graded"
    check = _check(report, "contribution:Conv2D")
    assert not check.passed
    assert check.message.startswith("There is no Conv2D layer to measure")


def test_a_model_near_chance_is_told_so_not_that_its_layers_are_unused(
    make_model: Callable[..., Path], digits_dir: Path
) -> None:
    """Shuffling cannot take a model below chance: one barely above it fails
    every ablation, so the check says why nothing could be measured instead of
    blaming a convolution that the prediction does use."""

    def build(keras: Any) -> Any:
        layers = keras.layers
        inputs = keras.Input(shape=(8, 8, 1))
        h = layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
        h = layers.Dropout(0.1)(layers.Flatten()(layers.MaxPooling2D()(h)))
        return keras.Model(inputs, layers.Dense(10, activation="softmax")(h))

    path = make_model("near_chance", build, data_dir=digits_dir, epochs=0)
    report = grade(path, load_spec("cnn"), digits_dir / "test.npz")
    assert report.status == "graded", report.reason
    check = _check(report, "contribution:Conv2D")
    assert not check.passed
    assert check.message.startswith("Cannot tell yet whether your Conv2D layer")
    assert "above chance" in check.message and "%" not in check.message
    assert "does not feed" not in check.message
