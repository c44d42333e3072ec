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
    x, y = load_source()
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
