"""grade(): each check is independent, scores follow the spec, reports round-trip."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader import GradeReport, SetupError, grade

from .conftest import cnn_layers, load_spec, mlp_layers, transfer_layers


def failed_ids(report: GradeReport) -> list[str]:
    return [check.id for check in report.checks if not check.passed]


def test_good_models_pass_every_check(
    good_mlp: Path, good_cnn: Path, digits_dir: Path
) -> None:
    """Small trained MLP and CNN pass all checks and score well."""
    for path, slug in ((good_mlp, "mlp"), (good_cnn, "cnn")):
        report = grade(path, load_spec(slug), digits_dir / "test.npz")
        assert report.status == "graded", report.reason
        assert failed_ids(report) == []
        assert report.public_accuracy > 0.85
        assert report.score > 80
        assert report.spec_version.startswith(f"dl101-{slug}-")
        assert len(report.confusion_matrix) == 10
        assert len(report.per_class_accuracy) == 10


def test_report_round_trips_through_dict(good_mlp: Path, digits_dir: Path) -> None:
    """from_dict(to_dict()) gives back an equal report."""
    report = grade(good_mlp, load_spec("mlp"), digits_dir / "test.npz")
    data = report.to_dict()
    assert isinstance(data["layers"][0], dict)
    assert set(data["checks"][0]) == {"id", "passed", "message"}
    assert GradeReport.from_dict(data) == report


def test_forbidden_layer_fails_only_that_check(
    make_model: Callable[..., Path], digits_dir: Path
) -> None:
    """An MLP with a Conv2D fails only the Conv2D check and is capped."""

    def build(keras: Any) -> Any:
        return keras.Sequential(
            [
                keras.Input(shape=(8, 8, 1)),
                keras.layers.Conv2D(4, 3, activation="relu"),
                keras.layers.Flatten(),
                keras.layers.Dense(32, activation="relu"),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )

    path = make_model("mlp_with_conv", build, data_dir=digits_dir)
    report = grade(path, load_spec("mlp"), digits_dir / "test.npz")
    assert report.status == "graded"
    assert failed_ids(report) == ["forbidden_layers"]
    failed = next(c for c in report.checks if not c.passed)
    assert failed.message == (
        "Your model has 1 Conv2D layer; the MLP assignment does not allow "
        "convolution layers (Conv1D, Conv2D, Conv3D, DepthwiseConv2D, "
        "SeparableConv2D). Remove it."
    )
    assert report.score <= 50


def test_forbidden_layers_read_as_one_rule(good_mlp: Path, digits_dir: Path) -> None:
    """A passing MLP gets one line for the forbidden-layers rule, in plain words."""
    report = grade(good_mlp, load_spec("mlp"), digits_dir / "test.npz")
    about_conv = [c.message for c in report.checks if "Conv" in c.message]
    assert about_conv == [
        "No convolution layers (Conv1D, Conv2D, Conv3D, DepthwiseConv2D, "
        "SeparableConv2D), as required."
    ]


def test_missing_required_layer_is_capped(
    make_model: Callable[..., Path], digits_dir: Path
) -> None:
    """A CNN without Dropout fails only the Dropout check; the score hits the cap."""
    path = make_model(
        "cnn_no_dropout", lambda k: cnn_layers(k, dropout=False), data_dir=digits_dir
    )
    report = grade(path, load_spec("cnn"), digits_dir / "test.npz")
    assert failed_ids(report) == ["required_layer:Dropout"]
    message = next(c.message for c in report.checks if not c.passed)
    assert message.startswith("Your model has no Dropout layer;")
    assert "the CNN assignment asks for at least 1 layer" in message
    assert report.public_accuracy > 0.85
    assert report.score == 50


def test_too_few_dense_layers(
    make_model: Callable[..., Path], digits_dir: Path
) -> None:
    """A single Dense layer fails only the Dense minimum."""

    def build(keras: Any) -> Any:
        return keras.Sequential(
            [
                keras.Input(shape=(8, 8, 1)),
                keras.layers.Flatten(),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )

    path = make_model("mlp_one_dense", build, data_dir=digits_dir, epochs=3)
    report = grade(path, load_spec("mlp"), digits_dir / "test.npz")
    assert failed_ids(report) == ["required_layer:Dense"]


def test_parameter_limit(make_model: Callable[..., Path], digits_dir: Path) -> None:
    """A too-large MLP fails only max_params."""
    path = make_model(
        "mlp_huge", lambda k: mlp_layers(k, hidden=4096), data_dir=digits_dir, epochs=0
    )
    spec = load_spec("mlp")
    report = grade(path, spec, digits_dir / "test.npz")
    assert failed_ids(report) == ["max_params"]
    assert report.params_total > spec["checks"]["max_params"]


def test_wrong_input_shape_fails_with_reason(
    make_model: Callable[..., Path], digits_dir: Path
) -> None:
    """A model for flat 64-vectors is refused before prediction, with a fix."""

    def build(keras: Any) -> Any:
        return keras.Sequential(
            [
                keras.Input(shape=(64,)),
                keras.layers.Dense(16, activation="relu"),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )

    path = make_model("flat_input", build)
    report = grade(path, load_spec("mlp"), digits_dir / "test.npz")
    assert report.status == "failed"
    assert failed_ids(report) == ["input_shape"]
    assert "(8, 8, 1)" in report.reason and "keras.Input" in report.reason
    assert report.score == 0 and report.public_accuracy is None


def test_wrong_output_size_fails(
    make_model: Callable[..., Path], digits_dir: Path
) -> None:
    """Five output units for ten classes is refused with the expected shape."""
    path = make_model("five_outputs", lambda k: mlp_layers(k, outputs=5))
    report = grade(path, load_spec("mlp"), digits_dir / "test.npz")
    assert report.status == "failed"
    assert failed_ids(report) == ["output_classes"]
    assert "Dense(10" in report.reason


def test_constant_predictor_scores_zero(
    make_model: Callable[..., Path], digits_dir: Path
) -> None:
    """A model that always predicts one class scores 0."""

    def build(keras: Any) -> Any:
        model = mlp_layers(keras)
        weights = [np.zeros_like(w) for w in model.get_weights()]
        weights[-1][3] = 1.0  # the output bias alone decides: always class 3
        model.set_weights(weights)
        return model

    path = make_model("constant", build)
    report = grade(path, load_spec("mlp"), digits_dir / "test.npz")
    assert report.status == "graded"
    assert report.public_accuracy < 0.15
    assert report.score == 0 and report.private_score == 0


def test_transfer_good_model(good_transfer: Path, transfer_dir: Path) -> None:
    """Frozen base plus trained head passes; nested base layers are listed."""
    report = grade(
        good_transfer,
        load_spec("transfer"),
        transfer_dir / "test.npz",
        base_model_path=transfer_dir / "base.keras",
    )
    assert failed_ids(report) == [], [c.message for c in report.checks]
    assert "dl101_base/base_conv1" in [layer.name for layer in report.layers]
    assert report.score > 80


def test_nested_layers_count_toward_requirements(
    good_transfer: Path, transfer_dir: Path
) -> None:
    """Conv2D layers inside a nested base satisfy a Conv2D requirement."""
    spec = load_spec("transfer")
    spec["checks"]["required_layers"] = {"Conv2D": 2, "MaxPooling2D": 2}
    report = grade(
        good_transfer,
        spec,
        transfer_dir / "test.npz",
        base_model_path=transfer_dir / "base.keras",
    )
    assert failed_ids(report) == []


def test_fine_tuned_base_fails_frozen_check(
    make_model: Callable[..., Path], transfer_dir: Path
) -> None:
    """Training the base changes its weights: only base_frozen fails."""
    path = make_model(
        "unfrozen",
        lambda k: transfer_layers(k, transfer_dir / "base.keras", frozen=False),
        data_dir=transfer_dir,
        epochs=3,
    )
    report = grade(
        path,
        load_spec("transfer"),
        transfer_dir / "test.npz",
        base_model_path=transfer_dir / "base.keras",
    )
    assert failed_ids(report) == ["base_frozen"]
    frozen = next(c for c in report.checks if c.id == "base_frozen")
    assert "base.trainable = False" in frozen.message
    assert report.score <= 50


def test_missing_base_fails_base_checks(
    good_cnn: Path, transfer_dir: Path, make_model: Callable[..., Path]
) -> None:
    """A model built without the published base fails base_present (and frozen)."""

    def build(keras: Any) -> Any:
        model = cnn_layers(keras)
        head = keras.layers.Dense(5, activation="softmax")
        return keras.Sequential([*model.layers[:-1], head])

    path = make_model("no_base", build, data_dir=transfer_dir, epochs=15)
    report = grade(
        path,
        load_spec("transfer"),
        transfer_dir / "test.npz",
        base_model_path=transfer_dir / "base.keras",
    )
    assert failed_ids(report) == ["base_present", "base_frozen", "contribution:base"]
    assert "base.keras" in report.checks[4].message


def test_untrained_head_fails_beats_chance(
    make_model: Callable[..., Path], transfer_dir: Path
) -> None:
    """A head left at its random initialisation fails only beats_chance."""

    def build(keras: Any) -> Any:
        model = transfer_layers(keras, transfer_dir / "base.keras")
        head = model.layers[-1]
        head.set_weights([np.zeros_like(w) for w in head.get_weights()])
        return model

    path = make_model("untrained_head", build)
    report = grade(
        path,
        load_spec("transfer"),
        transfer_dir / "test.npz",
        base_model_path=transfer_dir / "base.keras",
    )
    # A constant head does not depend on the base either.
    assert failed_ids(report) == ["beats_chance", "contribution:base"]
    assert report.score == 0


def test_head_requirement(good_transfer: Path, transfer_dir: Path) -> None:
    """A spec asking for a deeper head fails only head_present."""
    spec = load_spec("transfer")
    spec["checks"]["base"]["min_head_layers"] = 3
    report = grade(
        good_transfer,
        spec,
        transfer_dir / "test.npz",
        base_model_path=transfer_dir / "base.keras",
    )
    assert failed_ids(report) == ["head_present"]


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"score": {"target": 1.5}}, "score.target"),
        ({"checks": {"required_layers": {"Dense": 0}}}, "required_layers"),
        ({"checks": {"max_params": -1}}, "max_params"),
        ({"checks": {"input_shape": [28, 28, 1]}}, "input_shape"),
        ({"score": {"floor": 0.95, "target": 0.9}}, "floor"),
    ],
)
def test_bad_spec_raises_setup_error(
    change: dict[str, Any], needle: str, good_mlp: Path, digits_dir: Path
) -> None:
    """A broken spec is the instructor's fault: SetupError, not a failed report."""
    spec = load_spec("mlp")
    for section, values in change.items():
        spec[section] = {**spec[section], **values}
    with pytest.raises(SetupError, match=needle):
        grade(good_mlp, spec, digits_dir / "test.npz")


def test_missing_test_split_raises(good_mlp: Path, tmp_path: Path) -> None:
    """A missing hidden split is a setup error."""
    with pytest.raises(SetupError):
        grade(good_mlp, load_spec("mlp"), tmp_path / "nope.npz")


def test_transfer_spec_needs_base(good_transfer: Path, transfer_dir: Path) -> None:
    """A transfer spec without base_model_path is a setup error."""
    with pytest.raises(SetupError, match="base_model_path"):
        grade(good_transfer, load_spec("transfer"), transfer_dir / "test.npz")


def test_misclassified_images_come_from_the_public_split(
    good_mlp: Path, digits_dir: Path
) -> None:
    """Up to 16 wrongly predicted public images, each with its true class."""
    import base64

    report = grade(good_mlp, load_spec("mlp"), digits_dir / "test.npz")
    with np.load(digits_dir / "test.npz") as data:
        public = np.rint(data["x_public"] * 255).astype(np.uint8)
        y_public = data["y_public"]
    assert 0 < len(report.misclassified) <= 16
    assert len(report.misclassified) == min(
        16, round((1 - report.public_accuracy) * len(y_public))
    )
    for item in report.misclassified:
        pixels = np.frombuffer(base64.b64decode(item["pixels"]), np.uint8)
        assert np.array_equal(pixels.reshape(8, 8, 1), public[item["index"]])
        assert item["true"] == y_public[item["index"]] != item["predicted"]
    assert GradeReport.from_dict(report.to_dict()) == report


def test_dynamic_input_dimensions_are_refused(
    make_model: Callable[..., Path], digits_dir: Path
) -> None:
    """Input(shape=(None, None, 1)) fails the input-shape check: the predictor
    and the page need the image size the model takes."""

    def build(keras: Any) -> Any:
        return keras.Sequential(
            [
                keras.Input(shape=(None, None, 1)),
                keras.layers.GlobalAveragePooling2D(),
                keras.layers.Dense(16, activation="relu"),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )

    path = make_model("dynamic_input", build)
    report = grade(path, load_spec("mlp"), digits_dir / "test.npz")
    assert report.status == "failed"
    assert failed_ids(report) == ["input_shape"]
    assert "keras.Input(shape=x_train.shape[1:])" in report.reason
