"""Compute the theory notes' figures from the workshop's own data and models.

Run when the workshop is loaded, like the transfer base: real short trainings
of the reference MLP and CNN on the workshop's training split, and the
published base's features of the public test images. The result is plain
numbers (JSON); the site draws them with its own chart code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from assignments.reference import reference_cnn

# Learning rates for plain SGD on the MLP: too small, about right, too large.
LEARNING_RATES = (0.0005, 0.05, 5.0)
FEATURE_MAPS = 6
PCA_PER_CLASS = 60


def activation_curves(points: int = 81) -> dict[str, Any]:
    """Return sigmoid, tanh, ReLU and softmax sampled on [-4, 4]: wider, the
    saturating curves are flat lines."""
    x = np.linspace(-4.0, 4.0, points)
    softmax = np.exp(x) / (np.exp(x) + 2.0)  # class 1 of three, the others at 0
    series = {
        "sigmoid": 1.0 / (1.0 + np.exp(-x)),
        "tanh": np.tanh(x),
        "ReLU": np.maximum(x, 0.0),
        "softmax": softmax,
    }
    return {
        "x": _rounded(x),
        "series": {name: _rounded(values) for name, values in series.items()},
    }


def _rounded(values: np.ndarray) -> list[float | None]:
    return [round(float(v), 4) if np.isfinite(v) else None for v in values]


def _mlp(keras: Any, shape: tuple[int, ...], classes: int) -> Any:
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=shape),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dense(classes, activation="softmax"),
        ]
    )


def _fit(model: Any, x: np.ndarray, y: np.ndarray, optimizer: Any, epochs: int) -> Any:
    model.compile(
        optimizer=optimizer,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model.fit(
        x, y, validation_split=0.1, epochs=epochs, batch_size=64, verbose=0
    ).history


def _as_bytes(image: np.ndarray) -> list[int]:
    """Scale one map to 0-255 (its own range) and flatten it."""
    lo, hi = float(np.min(image)), float(np.max(image))
    scaled = (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)
    return [int(v) for v in np.round(scaled * 255).astype("uint8").ravel()]


def _pca(points: np.ndarray) -> np.ndarray:
    centred = points.reshape(len(points), -1).astype("float64")
    centred -= centred.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T


def _first_per_class(x: np.ndarray, y: np.ndarray, count: int) -> np.ndarray:
    return np.concatenate([np.flatnonzero(y == c)[:count] for c in np.unique(y)])


def build_figures(
    out_path: Path,
    *,
    train_dir: Path,
    hidden_dir: Path,
    transfer_hidden_dir: Path | None = None,
    base_path: Path | None = None,
    epochs: int = 5,
    per_class: int | None = 500,
    seed: int = 0,
) -> dict[str, Any]:
    """Train, measure and write every figure's numbers to ``out_path`` (JSON).

    ``train_dir`` holds the MLP/CNN ``train.npz``; ``hidden_dir`` its
    ``test.npz`` (only public images are used: one per class for the feature
    maps). The PCA figure needs the transfer assignment's hidden split and base.
    """
    import keras

    from .datasets import per_class as keep_per_class

    with np.load(Path(train_dir) / "train.npz") as train:
        x, y = keep_per_class(train["x"], train["y"], per_class, seed=seed)
    with np.load(Path(hidden_dir) / "test.npz") as hidden:
        x_public, y_public = hidden["x_public"], hidden["y_public"]
    shape, classes = tuple(x.shape[1:]), int(y.max()) + 1
    figures: dict[str, Any] = {"activations": activation_curves()}

    keras.utils.set_random_seed(seed)
    history = _fit(_mlp(keras, shape, classes), x, y, "adam", epochs)
    figures["loss-curve"] = {
        k: _rounded(np.array(history[k])) for k in ("loss", "val_loss")
    }

    runs = {}
    for rate in LEARNING_RATES:
        keras.utils.set_random_seed(seed)
        history = _fit(
            _mlp(keras, shape, classes), x, y, keras.optimizers.SGD(rate), epochs
        )
        runs[str(rate)] = _rounded(np.array(history["loss"]))
    figures["learning-rates"] = {
        "rates": [str(r) for r in LEARNING_RATES],
        "loss": runs,
    }

    keras.utils.set_random_seed(seed)
    cnn = reference_cnn(keras, input_shape=shape, classes=classes)
    _fit(cnn, x, y, "adam", epochs)
    conv = cnn.layers[0]
    kernel = np.asarray(conv.get_weights()[0])  # (3, 3, channels, filters)
    figures["conv-filters"] = {
        "size": [int(kernel.shape[0]), int(kernel.shape[1])],
        "filters": [_as_bytes(kernel[:, :, 0, f]) for f in range(kernel.shape[-1])],
    }
    picks = _first_per_class(x_public, y_public, 1)
    maps = np.asarray(conv(x_public[picks]))
    figures["feature-maps"] = {
        "size": [int(shape[0]), int(shape[1])],
        "images": [
            {
                "label": int(y_public[i]),
                "pixels": _as_bytes(x_public[i][:, :, 0]),
                "maps": [_as_bytes(maps[k, :, :, f]) for f in range(FEATURE_MAPS)],
            }
            for k, i in enumerate(picks)
        ],
    }
    if transfer_hidden_dir is not None and base_path is not None:
        with np.load(Path(transfer_hidden_dir) / "test.npz") as hidden:
            tx, ty = hidden["x_public"], hidden["y_public"]
        picks = _first_per_class(tx, ty, PCA_PER_CLASS)
        base = keras.saving.load_model(base_path, compile=False, safe_mode=True)
        images = _as_input(tx[picks], base.input_shape)
        # An instructor's own base may take other images than the transfer
        # data: the page then says the figure is not available.
        if images is not None:
            features = np.asarray(base(images))
            figures["pca-features"] = {
                "labels": [int(v) for v in ty[picks]],
                "raw": np.round(_pca(tx[picks]), 3).tolist(),
                "base": np.round(_pca(features.reshape(len(picks), -1)), 3).tolist(),
            }
    out_path = Path(out_path)
    tmp = out_path.with_name(out_path.name + ".tmp")
    tmp.write_text(json.dumps(figures))
    os.replace(tmp, out_path)
    return figures


def _as_input(images: np.ndarray, input_shape: tuple) -> np.ndarray | None:
    """Return the images shaped as the model takes them, or None if they differ."""
    want = tuple(input_shape[1:])
    if None in want or int(np.prod(want)) != int(np.prod(images.shape[1:])):
        return None
    return images.reshape((len(images), *want))
