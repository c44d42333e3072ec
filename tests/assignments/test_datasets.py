"""Dataset loading, splitting, writing, and refusal of bad uploads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assignments.datasets import DatasetError, load_npz, load_source, materialize, split


def test_digits_source_shape() -> None:
    """sklearn-digits gives 1797 images of 8 x 8 x 1 in [0, 1]."""
    x, y = load_source("sklearn-digits")
    assert x.shape == (1797, 8, 8, 1) and x.dtype == np.float32
    assert 0 <= x.min() and x.max() <= 1
    assert y.dtype == np.int64 and set(y.tolist()) == set(range(10))


def test_split_is_deterministic_stratified_and_disjoint() -> None:
    """The same seed gives the same split; every class is in every part."""
    x, y = load_source("sklearn-digits")
    ids = np.arange(len(y)).reshape(-1, 1, 1, 1).astype("float32")
    first, second = split(ids, y, seed=7), split(ids, y, seed=7)
    assert np.array_equal(first.x_public, second.x_public)
    assert not np.array_equal(first.x_public, split(ids, y, seed=8).x_public)
    parts = [first.x_train, first.x_public, first.x_private]
    seen = np.concatenate([p.ravel() for p in parts])
    assert len(seen) == len(set(seen.tolist())) == len(y)
    for labels in (first.y_train, first.y_public, first.y_private):
        assert set(labels.tolist()) == set(range(10))


def test_materialize_is_idempotent_and_remaps_classes(tmp_path: Path) -> None:
    """Two calls give the same hashes; classes 5-9 become labels 0-4."""
    dataset = {"source": "sklearn-digits", "classes": [5, 6, 7, 8, 9], "seed": 101}
    info = materialize(dataset, tmp_path / "a")
    again = materialize(dataset, tmp_path / "a")
    fresh = materialize(dataset, tmp_path / "b")
    assert info == again
    assert info["train_sha256"] == fresh["train_sha256"]
    assert info["test_sha256"] == fresh["test_sha256"]
    assert info["num_classes"] == 5 and info["input_shape"] == [8, 8, 1]
    with np.load(tmp_path / "a" / "train.npz") as train:
        assert set(train["y"].tolist()) == {0, 1, 2, 3, 4}
        assert (
            train["x"].dtype == np.float32
            and len(train["x"]) == info["counts"]["train"]
        )
    with np.load(tmp_path / "a" / "test.npz") as test:
        assert set(test.files) == {"x_public", "y_public", "x_private", "y_private"}


def test_missing_keras_cache_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a cached copy and downloads off, keras:mnist says what to do."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(DatasetError, match="not cached.*sklearn-digits"):
        load_source("keras:mnist", allow_download=False)


def test_unknown_source() -> None:
    """An unknown source lists the valid ones."""
    with pytest.raises(DatasetError, match="sklearn-digits"):
        load_source("kaggle:cats")


def _good() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    return {"x": rng.random((60, 8, 8)).astype("float32"), "y": np.arange(60) % 3}


BAD_UPLOADS: dict[str, tuple[Callable[[dict[str, Any]], dict[str, Any]], str]] = {
    "missing y": (lambda a: {"x": a["x"]}, "no array named y"),
    "wrong ndim": (lambda a: {**a, "x": a["x"].reshape(60, 64)}, "expected N x H x W"),
    "strings": (lambda a: {**a, "x": np.full((60, 8, 8), "a")}, "must be numbers"),
    "nan": (lambda a: {**a, "x": np.where(a["x"] > 0.5, np.nan, a["x"])}, "NaN"),
    "float labels": (lambda a: {**a, "y": a["y"] + 0.5}, "integers"),
    "gap in labels": (lambda a: {**a, "y": a["y"] * 2}, "0..K-1"),
    "length": (lambda a: {**a, "y": a["y"][:50]}, "60 images but y has 50"),
    "too few": (lambda a: {"x": a["x"][:12], "y": np.arange(12) % 3}, "at least 10"),
    "unscaled": (lambda a: {**a, "x": a["x"] * 255}, "scaled to"),
}


@pytest.mark.parametrize("kind", sorted(BAD_UPLOADS))
def test_bad_npz_upload_is_refused(kind: str, tmp_path: Path) -> None:
    """Each malformed upload raises DatasetError with an actionable message."""
    change, needle = BAD_UPLOADS[kind]
    path = tmp_path / "upload.npz"
    np.savez(path, **change(_good()))
    with pytest.raises(DatasetError, match=needle):
        load_npz(path)


def test_npz_with_pickled_objects_is_refused(tmp_path: Path) -> None:
    """Object arrays need pickle, which is never loaded."""
    path = tmp_path / "upload.npz"
    np.savez(path, x=np.array([{"a": 1}] * 3, dtype=object), y=np.arange(3))
    with pytest.raises(DatasetError, match="Python objects"):
        load_npz(path)


def test_non_npz_upload_is_refused(tmp_path: Path) -> None:
    """A pickle or plain .npy file is not an .npz archive."""
    path = tmp_path / "upload.npz"
    path.write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(DatasetError, match="not an .npz"):
        load_npz(path)


def test_good_npz_upload_materializes(tmp_path: Path) -> None:
    """A valid uint8 upload is scaled to [0, 1] and split."""
    path = tmp_path / "upload.npz"
    data = _good()
    np.savez(path, x=(data["x"] * 255).astype("uint8"), y=data["y"])
    info = materialize({"source": "npz", "seed": 1}, tmp_path / "out", npz_path=path)
    assert info["num_classes"] == 3 and info["input_shape"] == [8, 8, 1]


# --- Fashion-MNIST (Debian's IDX files) and the Keras loaders -----------------


def write_idx(path: Path, array: np.ndarray, *, magic: bytes | None = None) -> None:
    """Write ``array`` (uint8) as a gzip-compressed IDX file."""
    import gzip
    import struct

    header = magic or bytes([0, 0, 0x08, array.ndim])
    header += struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as out:
        out.write(header + array.astype(np.uint8).tobytes())


def small_fashion(folder: Path, *, train: int = 20, test: int = 12) -> Path:
    """Write tiny Fashion-MNIST IDX files (``train``/``test`` images per class)."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for part, count in (("train", train), ("t10k", test)):
        y = np.repeat(np.arange(10, dtype=np.uint8), count)
        x = rng.integers(0, 256, (len(y), 28, 28), dtype=np.uint8)
        write_idx(folder / f"{part}-images-idx3-ubyte.gz", x)
        write_idx(folder / f"{part}-labels-idx1-ubyte.gz", y)
    return folder


def test_fashion_mnist_is_the_default_with_the_official_test_split() -> None:
    """Debian's files: 60k train images for participants, t10k halved and hidden."""
    from assignments.datasets import DEFAULT_SOURCE, load_data

    assert DEFAULT_SOURCE == "fashion-mnist"
    data = load_data("fashion-mnist")
    assert data.x.shape == (60000, 28, 28, 1) and data.x.dtype == np.float32
    assert data.x_test.shape == (10000, 28, 28, 1)
    assert 0 <= data.x.min() and data.x.max() == 1.0
    assert np.bincount(data.y_test).tolist() == [1000] * 10


def test_materialize_keeps_t10k_as_the_hidden_split(tmp_path: Path) -> None:
    """Public and private are disjoint halves of t10k; train is the train files."""
    folder = small_fashion(tmp_path / "fm")
    dataset = {"source": "fashion-mnist", "seed": 3}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOJO_FASHION_MNIST_DIR", str(folder))
        info = materialize(dataset, tmp_path / "out")
    assert info["counts"] == {"train": 200, "public": 60, "private": 60}
    assert info["official_test"] and info["input_shape"] == [28, 28, 1]
    assert info["class_names"][0] == "T-shirt/top"
    assert info["class_names"][9] == "Ankle boot"
    from assignments.idx import read_idx

    t10k = read_idx(folder / "t10k-images-idx3-ubyte.gz", ndim=3)
    with np.load(tmp_path / "out" / "test.npz") as test:
        hidden = np.concatenate([test["x_public"], test["x_private"]])
    hidden = np.rint(hidden[..., 0] * 255).astype(np.uint8)
    assert sorted(map(bytes, hidden)) == sorted(map(bytes, t10k))


def test_slices_keep_a_few_images_of_each_class(tmp_path: Path) -> None:
    """train_per_class / test_per_class cut every class to a small, fixed slice."""
    dataset = {"source": "fashion-mnist", "seed": 1, "classes": [5, 6, 7, 8, 9]}
    info = materialize(dataset, tmp_path / "out", train_per_class=30, test_per_class=10)
    assert info["counts"] == {"train": 150, "public": 25, "private": 25}
    assert info["class_names"] == ["Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    again = materialize(
        dataset, tmp_path / "again", train_per_class=30, test_per_class=10
    )
    assert again["train_sha256"] == info["train_sha256"]


BAD_IDX: dict[str, tuple[Callable[[Path], None], str]] = {
    "magic": (
        lambda p: write_idx(p, np.zeros((20, 28, 28)), magic=b"\x08\x03\x00\x00"),
        "bad magic number",
    ),
    "type": (
        lambda p: write_idx(p, np.zeros((20, 28, 28)), magic=b"\x00\x00\x0d\x03"),
        "type 0x0d",
    ),
    "dimensions": (lambda p: write_idx(p, np.zeros((20, 784))), "2 dimensions"),
    "shape": (lambda p: write_idx(p, np.zeros((20, 14, 14))), "14 x 14"),
    "count": (lambda p: write_idx(p, np.zeros((21, 28, 28))), "21 images"),
    "truncated": (
        lambda p: p.write_bytes(
            __import__("gzip").compress(
                bytes([0, 0, 8, 3]) + (20).to_bytes(4, "big") + bytes(8 + 100)
            )
        ),
        "the file holds 100",
    ),
    "not gzip": (lambda p: p.write_bytes(b"\x1f\x8bnot really gzip"), "cannot be read"),
}


@pytest.mark.parametrize("kind", sorted(BAD_IDX))
def test_bad_idx_file_is_refused(kind: str, tmp_path: Path) -> None:
    """A damaged IDX file raises DatasetError naming the file and the fault."""
    from assignments.datasets import load_data

    folder = small_fashion(tmp_path / "fm", train=2, test=2)
    damage, needle = BAD_IDX[kind]
    damage(folder / "train-images-idx3-ubyte.gz")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOJO_FASHION_MNIST_DIR", str(folder))
        with pytest.raises(DatasetError, match="train-images-idx3-ubyte.gz") as info:
            load_data("fashion-mnist")
    assert needle in str(info.value)


def test_missing_fashion_mnist_falls_back_to_digits_with_a_notice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the package the pack uses the digits and says so; loading says how."""
    from assignments.datasets import load_data, resolve_dataset

    monkeypatch.setenv("DOJO_FASHION_MNIST_DIR", str(tmp_path / "absent"))
    dataset, notice = resolve_dataset({"source": "fashion-mnist", "seed": 4})
    assert dataset == {"source": "sklearn-digits", "seed": 4}
    assert "apt-get install dataset-fashion-mnist" in notice
    with pytest.raises(DatasetError, match="apt-get install dataset-fashion-mnist"):
        load_data("fashion-mnist")
    monkeypatch.delenv("DOJO_FASHION_MNIST_DIR")
    assert resolve_dataset({"source": "fashion-mnist"}) == (
        {"source": "fashion-mnist"},
        "",
    )


KERAS_PROBE = """
import json, sys
from assignments.datasets import load_data
out = {}
for source in sys.argv[1:]:
    data = load_data(source, allow_download=False)
    out[source] = [list(data.x.shape), list(data.x_test.shape), int(data.y.max())]
print(json.dumps(out))
"""


def test_keras_loaders_run_offline_from_their_cache(tmp_path: Path) -> None:
    """keras:fashion_mnist and keras:mnist read files placed in Keras' cache."""
    import json
    import os
    import subprocess
    import sys

    cache = tmp_path / "keras" / "datasets"
    small_fashion(cache / "fashion-mnist", train=12, test=10)
    rng = np.random.default_rng(1)
    labels = {
        n: np.repeat(np.arange(10, dtype=np.uint8), k)
        for n, k in (("tr", 15), ("te", 11))
    }
    np.savez(
        cache / "mnist.npz",
        x_train=rng.integers(0, 256, (150, 28, 28), dtype=np.uint8),
        y_train=labels["tr"],
        x_test=rng.integers(0, 256, (110, 28, 28), dtype=np.uint8),
        y_test=labels["te"],
    )
    root = Path(__file__).resolve().parents[2]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin"),
        "KERAS_HOME": str(tmp_path / "keras"),
        "PYTHONPATH": str(root),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    done = subprocess.run(
        [sys.executable, "-c", KERAS_PROBE, "keras:fashion_mnist", "keras:mnist"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=root,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    shapes = json.loads(done.stdout.strip().splitlines()[-1])
    assert shapes["keras:fashion_mnist"] == [[120, 28, 28, 1], [100, 28, 28, 1], 9]
    assert shapes["keras:mnist"] == [[150, 28, 28, 1], [110, 28, 28, 1], 9]


def test_a_few_shot_spec_keeps_its_own_training_size(tmp_path) -> None:
    """dataset.train_per_class keeps that many training images of each class; a
    smaller test slice cuts further; the hidden split is untouched by it."""
    dataset = {"source": "sklearn-digits", "seed": 0, "train_per_class": 5}
    info = materialize(dataset, tmp_path / "few")
    whole = materialize({"source": "sklearn-digits", "seed": 0}, tmp_path / "all")
    assert info["counts"]["train"] == 50
    assert info["counts"]["public"] == whole["counts"]["public"]
    assert (
        materialize(dataset, tmp_path / "cut", train_per_class=3)["counts"]["train"]
        == 30
    )
    with pytest.raises(DatasetError, match="train_per_class"):
        materialize({**dataset, "train_per_class": 0}, tmp_path / "bad")
