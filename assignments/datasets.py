"""Split a dataset source deterministically and write the data files.

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

from .sources import (
    DEFAULT_SOURCE,
    FALLBACK_NOTICE,
    FALLBACK_SOURCE,
    SOURCES,
    TEXT_SOURCES,
    DatasetError,
    SourceData,
    class_names,
    load_data,
    load_npz,
    load_source,
    resolve_dataset,
    source_available,
    validate_arrays,
)

# Files beside train.npz that the training sandbox gets (a text source's).
TRAIN_EXTRAS = ("vocab.txt", "glove.npy")

__all__ = [
    "TRAIN_EXTRAS",
    "DEFAULT_SOURCE",
    "FALLBACK_NOTICE",
    "FALLBACK_SOURCE",
    "SOURCES",
    "TEXT_SOURCES",
    "DatasetError",
    "SourceData",
    "CheckSlice",
    "Split",
    "check_slice",
    "class_names",
    "load_data",
    "load_npz",
    "load_source",
    "materialize",
    "resolve_dataset",
    "select_classes",
    "source_available",
    "split",
    "validate_arrays",
]


@dataclass(frozen=True)
class Split:
    """A deterministic stratified train / public test / private test split."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_public: np.ndarray
    y_public: np.ndarray
    x_private: np.ndarray
    y_private: np.ndarray


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


def split_official(
    data: SourceData, *, seed: int, public_fraction: float = 0.5
) -> Split:
    """Keep the official train set; halve the official test set, per class."""
    rng = np.random.default_rng(seed)
    public, private = [], []
    for label in np.unique(data.y_test):
        index = rng.permutation(np.flatnonzero(data.y_test == label))
        if len(index) < 2:
            raise DatasetError(f"Class {label} has too few test images to halve.")
        cut = min(max(1, round(len(index) * public_fraction)), len(index) - 1)
        public.append(index[:cut])
        private.append(index[cut:])
    pub, priv = (
        rng.permutation(np.concatenate(public)),
        rng.permutation(np.concatenate(private)),
    )
    train = rng.permutation(len(data.y))
    return Split(
        x_train=data.x[train],
        y_train=data.y[train],
        x_public=data.x_test[pub],
        y_public=data.y_test[pub],
        x_private=data.x_test[priv],
        y_private=data.y_test[priv],
    )


def per_class(
    x: np.ndarray, y: np.ndarray, limit: int | None, *, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Keep at most ``limit`` images of each class (a seeded, stable choice)."""
    if not limit:
        return x, y
    rng = np.random.default_rng(seed)
    keep = np.concatenate(
        [rng.permutation(np.flatnonzero(y == c))[:limit] for c in np.unique(y)]
    )
    keep.sort()
    return x[keep], y[keep]


@dataclass(frozen=True)
class CheckSlice:
    """What a check run sees: a few training images and a public sample.

    ``x_train``/``y_train`` go to the training sandbox; ``x_public``/``y_public``
    only to the evaluation sandbox. Nothing of the private split is in here.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_public: np.ndarray
    y_public: np.ndarray


def check_slice(
    *,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_public: np.ndarray,
    y_public: np.ndarray,
    train_per_class: int,
    public_per_class: int,
    seed: int = 0,
) -> CheckSlice:
    """Keep a seeded, stable few images of each class of the training split and
    of the public test split, for quick check runs."""
    x, y = per_class(x_train, y_train, train_per_class, seed=seed)
    # Shuffled once: Keras' validation_split takes the last rows, which would
    # otherwise all be of the last class.
    order = np.random.default_rng(seed).permutation(len(y))
    xp, yp = per_class(x_public, y_public, public_per_class, seed=seed)
    return CheckSlice(x_train=x[order], y_train=y[order], x_public=xp, y_public=yp)


def _select(data: SourceData, classes: list[int]) -> SourceData:
    x, y = select_classes(data.x, data.y, classes)
    if data.x_test is None:
        return SourceData(x, y)
    x_test, y_test = select_classes(data.x_test, data.y_test, classes)
    return SourceData(x, y, x_test, y_test)


def materialize(
    dataset: dict[str, Any],
    out_dir: Path,
    *,
    npz_path: Path | None = None,
    train_per_class: int | None = None,
    test_per_class: int | None = None,
) -> dict[str, Any]:
    """Write ``train.npz`` and ``test.npz`` for a spec's "dataset" section.

    A source with an official test set keeps it as the hidden split, halved
    into public and private; other sources are split three ways. Tests pass
    ``train_per_class`` / ``test_per_class`` to keep a small slice of each class
    (``test_per_class`` counts both hidden halves together).

    The files are byte-for-byte reproducible (fixed zip timestamps), so calling
    this twice gives the same hashes; an up-to-date folder is left alone.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # A few-shot assignment names its own training size; a test slice may cut more.
    few_shot = dataset.get("train_per_class")
    if few_shot is not None and (not isinstance(few_shot, int) or few_shot < 1):
        raise DatasetError("dataset.train_per_class must be a positive integer.")
    if few_shot:
        train_per_class = min(few_shot, train_per_class or few_shot)
    record_path = out_dir / "dataset.json"
    key = json.dumps(
        {"dataset": dataset, "slice": [train_per_class, test_per_class]},
        sort_keys=True,
    )
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
    seed = int(dataset.get("seed", 0))
    if source in TEXT_SOURCES:
        return _materialize_text(
            dataset,
            out_dir,
            seed=seed,
            train_per_class=train_per_class,
            test_per_class=test_per_class,
            record=(record_path, key),
        )
    data = load_data(source, npz_path=Path(upload) if upload else None)
    classes = [int(c) for c in dataset.get("classes") or []]
    if classes:
        data = _select(data, classes)
    if data.x_test is not None:
        x_test, y_test = per_class(data.x_test, data.y_test, test_per_class, seed=seed)
        x, y = per_class(data.x, data.y, train_per_class, seed=seed)
        parts = split_official(SourceData(x, y, x_test, y_test), seed=seed)
    else:
        parts = split(
            data.x,
            data.y,
            seed=seed,
            public_fraction=float(dataset.get("public_fraction", 0.2)),
            private_fraction=float(dataset.get("private_fraction", 0.2)),
        )
        if train_per_class or test_per_class:
            parts = _slice(parts, train_per_class, test_per_class, seed=seed)
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
    num_classes = int(parts.y_train.max()) + 1
    info = {
        "train_sha256": train_sha,
        "test_sha256": test_sha,
        "source": source,
        "num_classes": num_classes,
        "input_shape": [int(d) for d in parts.x_train.shape[1:]],
        "counts": {
            "train": len(parts.y_train),
            "public": len(parts.y_public),
            "private": len(parts.y_private),
        },
        "official_test": data.x_test is not None,
        "class_labels": classes or list(range(num_classes)),
        "class_names": class_names(
            source, classes=classes or None, num_classes=num_classes
        ),
    }
    record_path.write_text(json.dumps({"dataset_key": key, "info": info}, indent=2))
    return info


def _materialize_text(
    dataset: dict[str, Any],
    out_dir: Path,
    *,
    seed: int,
    train_per_class: int | None,
    test_per_class: int | None,
    record: tuple[Path, str],
) -> dict[str, Any]:
    """Write a text source's token splits, vocabulary and vectors."""
    from .glove import GloveError
    from .text import SEQUENCE_LENGTH, encode, load_definitions, write_vocabulary
    from .wordnet import WordNetError

    try:
        texts, labels, names = load_definitions(dataset)
        pool = split(
            np.arange(len(texts)),
            labels,
            seed=seed,
            public_fraction=float(dataset.get("public_fraction", 0.1)),
            private_fraction=float(dataset.get("private_fraction", 0.1)),
        )
        vocabulary = write_vocabulary(
            dataset, [texts[i] for i in pool.x_train], out_dir
        )
    except (WordNetError, GloveError) as exc:
        raise DatasetError(str(exc)) from exc
    length = int(dataset.get("sequence_length", SEQUENCE_LENGTH))

    def tokens(index: np.ndarray) -> np.ndarray:
        return encode([texts[i] for i in index], vocabulary, length=length)

    parts = Split(
        x_train=tokens(pool.x_train),
        y_train=pool.y_train,
        x_public=tokens(pool.x_public),
        y_public=pool.y_public,
        x_private=tokens(pool.x_private),
        y_private=pool.y_private,
    )
    if train_per_class or test_per_class:
        parts = _slice(parts, train_per_class, test_per_class, seed=seed)
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
        "source": dataset["source"],
        "num_classes": len(names),
        "input_shape": [int(d) for d in parts.x_train.shape[1:]],
        "counts": {
            "train": len(parts.y_train),
            "public": len(parts.y_public),
            "private": len(parts.y_private),
        },
        "official_test": False,
        "class_labels": list(range(len(names))),
        "class_names": names,
        "train_files": [name for name in TRAIN_EXTRAS if (out_dir / name).is_file()],
    }
    record_path, key = record
    record_path.write_text(json.dumps({"dataset_key": key, "info": info}, indent=2))
    return info


def _slice(parts: Split, train: int | None, test: int | None, *, seed: int) -> Split:
    half = max(1, test // 2) if test else None
    x_train, y_train = per_class(parts.x_train, parts.y_train, train, seed=seed)
    x_public, y_public = per_class(parts.x_public, parts.y_public, half, seed=seed)
    x_private, y_private = per_class(parts.x_private, parts.y_private, half, seed=seed)
    return Split(x_train, y_train, x_public, y_public, x_private, y_private)


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> str:
    """Write a compressed .npz with fixed timestamps; return its sha256."""
    buffer = io.BytesIO()
    # Level 1 deflate: Fashion-MNIST's 179 MB of float32 pixels become 41 MB in
    # about a second, and load back in under one.
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(
                member, np.ascontiguousarray(array), allow_pickle=False
            )
            archive.writestr(
                zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)),
                member.getvalue(),
                compress_type=zipfile.ZIP_DEFLATED,
                compresslevel=1,
            )
    data = buffer.getvalue()
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return hashlib.sha256(data).hexdigest()
