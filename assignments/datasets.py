"""Load a dataset source, split it deterministically, write the data files.

Data contract: ``train.npz`` holds ``x`` (float32, N x H x W x C in [0, 1]) and
``y`` (int64, 0..K-1); ``test.npz`` holds ``x_public, y_public, x_private,
y_private`` and never enters a sandbox that runs participant code.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_SOURCE = "sklearn-digits"
SOURCES = (
    "sklearn-digits",
    "keras:mnist",
    "keras:fashion_mnist",
    "keras:cifar10",
    "npz",
)
MIN_PER_CLASS = 10
# Where each Keras loader caches its download, relative to KERAS_HOME.
KERAS_CACHE = {
    "keras:mnist": "datasets/mnist.npz",
    "keras:fashion_mnist": "datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
    "keras:cifar10": "datasets/cifar-10-batches-py-target",
}
NPZ_HINT = "Save it with np.savez_compressed(path, x=images, y=labels)."


class DatasetError(ValueError):
    """A dataset source or upload cannot be used; the message says how to fix it."""


@dataclass(frozen=True)
class Split:
    """A deterministic stratified train / public test / private test split."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_public: np.ndarray
    y_public: np.ndarray
    x_private: np.ndarray
    y_private: np.ndarray


def load_source(
    source: str = DEFAULT_SOURCE,
    *,
    npz_path: Path | None = None,
    allow_download: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Return images (N, H, W, C float32 in [0, 1]) and labels (N int64)."""
    if source == "sklearn-digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        x = (digits.images / 16.0).astype("float32")[..., None]
        return x, digits.target.astype("int64")
    if source in KERAS_CACHE:
        return _load_keras(source, allow_download=allow_download)
    if source == "npz":
        if npz_path is None:
            raise DatasetError('The "npz" source needs the uploaded file (npz_path).')
        return load_npz(Path(npz_path))
    raise DatasetError(
        f"Unknown dataset source {source!r}; use one of {', '.join(SOURCES)}."
    )


def _load_keras(source: str, *, allow_download: bool) -> tuple[np.ndarray, np.ndarray]:
    import keras

    home = os.environ.get("KERAS_HOME") or keras.src.backend.config.keras_home()
    cached = Path(home) / KERAS_CACHE[source]
    if not cached.exists() and not allow_download:
        raise DatasetError(
            f"{source} is not cached at {cached} and downloads are off. Run "
            f"keras.datasets.{source.split(':')[1]}.load_data() once on a host with "
            "internet (same KERAS_HOME), or use sklearn-digits or an uploaded .npz."
        )
    loader = getattr(keras.datasets, source.split(":", 1)[1])
    try:
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    except Exception as exc:  # network, checksum or disk: all mean "no data here"
        raise DatasetError(
            f"Could not load {source} ({type(exc).__name__}: {exc}). This host needs "
            f"internet once, or a cached copy at {cached}; or use sklearn-digits."
        ) from exc
    x = np.concatenate([x_train, x_test]).astype("float32") / 255.0
    if x.ndim == 3:
        x = x[..., None]
    y = np.concatenate([y_train, y_test]).reshape(-1).astype("int64")
    return x, y


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


def select_classes(
    x: np.ndarray, y: np.ndarray, classes: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Keep only ``classes`` and relabel them 0..K-1 in the given order."""
    mapping = {int(c): i for i, c in enumerate(classes)}
    if len(mapping) != len(classes) or len(classes) < 2:
        raise DatasetError("dataset.classes must list at least two distinct labels.")
    absent = [c for c in classes if c not in set(np.unique(y).tolist())]
    if absent:
        raise DatasetError(
            f"dataset.classes names labels that are not in the data: {absent}."
        )
    keep = np.isin(y, classes)
    return x[keep], np.array([mapping[int(v)] for v in y[keep]], dtype="int64")


def split(
    x: np.ndarray,
    y: np.ndarray,
    *,
    seed: int,
    public_fraction: float = 0.2,
    private_fraction: float = 0.2,
) -> Split:
    """Split each class with a seeded generator: same inputs, same split."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "public": [], "private": []}
    for label in np.unique(y):
        index = rng.permutation(np.flatnonzero(y == label))
        n_public = max(1, round(len(index) * public_fraction))
        n_private = max(1, round(len(index) * private_fraction))
        if n_public + n_private >= len(index):
            raise DatasetError(f"Class {label} is too small to split three ways.")
        parts["public"].append(index[:n_public])
        parts["private"].append(index[n_public : n_public + n_private])
        parts["train"].append(index[n_public + n_private :])
    picked = {name: rng.permutation(np.concatenate(idx)) for name, idx in parts.items()}
    return Split(
        x_train=x[picked["train"]],
        y_train=y[picked["train"]],
        x_public=x[picked["public"]],
        y_public=y[picked["public"]],
        x_private=x[picked["private"]],
        y_private=y[picked["private"]],
    )


def materialize(
    dataset: dict[str, Any], out_dir: Path, *, npz_path: Path | None = None
) -> dict[str, Any]:
    """Write ``train.npz`` and ``test.npz`` for a spec's "dataset" section.

    The files are byte-for-byte reproducible (fixed zip timestamps), so calling
    this twice gives the same hashes; an up-to-date folder is left alone.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    record_path = out_dir / "dataset.json"
    key = json.dumps(dataset, sort_keys=True)
    if (
        record_path.exists()
        and (out_dir / "train.npz").exists()
        and (out_dir / "test.npz").exists()
    ):
        record = json.loads(record_path.read_text())
        if record.get("dataset_key") == key:
            return record["info"]
    source = dataset.get("source", DEFAULT_SOURCE)
    upload = npz_path or dataset.get("path")
    x, y = load_source(source, npz_path=Path(upload) if upload else None)
    classes = dataset.get("classes")
    if classes:
        x, y = select_classes(x, y, [int(c) for c in classes])
    parts = split(
        x,
        y,
        seed=int(dataset.get("seed", 0)),
        public_fraction=float(dataset.get("public_fraction", 0.2)),
        private_fraction=float(dataset.get("private_fraction", 0.2)),
    )
    train_sha = _write_npz(
        out_dir / "train.npz", {"x": parts.x_train, "y": parts.y_train}
    )
    test_sha = _write_npz(
        out_dir / "test.npz",
        {
            "x_public": parts.x_public,
            "y_public": parts.y_public,
            "x_private": parts.x_private,
            "y_private": parts.y_private,
        },
    )
    info = {
        "train_sha256": train_sha,
        "test_sha256": test_sha,
        "num_classes": int(y.max()) + 1,
        "input_shape": [int(d) for d in x.shape[1:]],
        "counts": {
            "train": len(parts.y_train),
            "public": len(parts.y_public),
            "private": len(parts.y_private),
        },
        "class_labels": [int(c) for c in classes]
        if classes
        else list(range(int(y.max()) + 1)),
    }
    record_path.write_text(json.dumps({"dataset_key": key, "info": info}, indent=2))
    return info


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> str:
    """Write an uncompressed .npz with fixed timestamps; return its sha256."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(
                member, np.ascontiguousarray(array), allow_pickle=False
            )
            archive.writestr(
                zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)),
                member.getvalue(),
            )
    data = buffer.getvalue()
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return hashlib.sha256(data).hexdigest()
