"""Shared fixtures: tiny digits splits, a published base and trained models.

Models are trained in this process (TensorFlow starts once) on the 8 x 8 digits;
each takes a second or two.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

PACK = Path(__file__).resolve().parents[2] / "assignments" / "dl101"


def load_spec(slug: str) -> dict[str, Any]:
    """Return the DL101 spec for ``slug``, on the small 8 x 8 digits.

    The pack runs on Fashion-MNIST; the grader's tests keep its checks and
    scoring but use the digits, so each model trains in a second.
    """
    spec = json.loads((PACK / slug / "spec.json").read_text())
    spec["dataset"] = {**spec["dataset"], "source": "sklearn-digits"}
    # The pack's few-shot size is for Fashion-MNIST; these tests train on all of
    # the (small) digits so each model learns in a second or two.
    spec["dataset"].pop("train_per_class", None)
    spec["checks"]["input_shape"] = [8, 8, 1]
    return spec


def spec_file(slug: str, folder: Path) -> str:
    """Write the digits version of ``slug``'s spec into ``folder``; return its path."""
    path = folder / f"{slug}.spec.json"
    path.write_text(json.dumps(load_spec(slug)))
    return str(path)


@pytest.fixture(scope="session")
def keras_mod() -> Any:
    """Import Keras once, seeded."""
    import keras

    keras.utils.set_random_seed(0)
    return keras


@pytest.fixture(scope="session")
def digits_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Materialize the MLP/CNN dataset (all ten digits)."""
    from assignments.datasets import materialize

    out = tmp_path_factory.mktemp("digits")
    materialize(load_spec("mlp")["dataset"], out)
    return out


@pytest.fixture(scope="session")
def transfer_dir(tmp_path_factory: pytest.TempPathFactory, keras_mod: Any) -> Path:
    """Materialize digits 5-9 and build a (briefly trained) published base."""
    from assignments.datasets import materialize
    from assignments.transfer import build_base

    out = tmp_path_factory.mktemp("transfer")
    materialize(load_spec("transfer")["dataset"], out)
    build_base(
        out / "base.keras", dataset={"source": "sklearn-digits"}, seed=0, epochs=10
    )
    return out


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a folder for saved test models."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def make_model(keras_mod: Any, models_dir: Path) -> Callable[..., Path]:
    """Return a factory: build layers, optionally train on a data dir, save."""
    cache: dict[str, Path] = {}

    def factory(
        name: str,
        build: Callable[[Any], Any],
        *,
        data_dir: Path | None = None,
        epochs: int = 15,
    ) -> Path:
        if name in cache:
            return cache[name]
        keras_mod.utils.set_random_seed(0)
        model = build(keras_mod)
        if data_dir is not None and epochs:
            with np.load(data_dir / "train.npz") as train:
                x, y = train["x"], train["y"]
            model.compile(
                optimizer=keras_mod.optimizers.Adam(5e-3),
                loss="sparse_categorical_crossentropy",
            )
            model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
        path = models_dir / f"{name}.keras"
        model.save(path)
        cache[name] = path
        return path

    return factory


def mlp_layers(keras: Any, *, hidden: int = 32, outputs: int = 10) -> Any:
    """Return a small MLP for 8 x 8 x 1 digits."""
    return keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(hidden, activation="relu"),
            keras.layers.Dense(outputs, activation="softmax"),
        ]
    )


def cnn_layers(keras: Any, *, dropout: bool = True) -> Any:
    """Return a small CNN for 8 x 8 x 1 digits."""
    layers = keras.layers
    stack = [
        keras.Input(shape=(8, 8, 1)),
        layers.Conv2D(8, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
    ]
    if dropout:
        stack.append(layers.Dropout(0.2))
    stack += [
        layers.Dense(32, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ]
    return keras.Sequential(stack)


def transfer_layers(keras: Any, base_path: Path, *, frozen: bool = True) -> Any:
    """Return base + head for digits 5-9."""
    base = keras.saving.load_model(base_path, compile=False)
    base.trainable = not frozen
    return keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1)),
            base,
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(5, activation="softmax"),
        ]
    )


@pytest.fixture(scope="session")
def good_mlp(make_model: Callable[..., Path], digits_dir: Path) -> Path:
    """Return a trained MLP that passes every MLP check."""
    return make_model("good_mlp", mlp_layers, data_dir=digits_dir)


@pytest.fixture(scope="session")
def good_cnn(make_model: Callable[..., Path], digits_dir: Path) -> Path:
    """Return a trained CNN that passes every CNN check."""
    return make_model("good_cnn", cnn_layers, data_dir=digits_dir)


@pytest.fixture(scope="session")
def good_transfer(make_model: Callable[..., Path], transfer_dir: Path) -> Path:
    """Return a frozen base with a trained head."""
    return make_model(
        "good_transfer",
        lambda k: transfer_layers(k, transfer_dir / "base.keras"),
        data_dir=transfer_dir,
    )
