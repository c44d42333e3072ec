"""Unsafe or broken model files are refused with a reason, never executed."""

from __future__ import annotations

import io
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from grader import InvalidModelFileError, UnsafeModelError, grade
from grader._load import inspect_archive, load_model

from .conftest import load_spec, mlp_layers


def grade_mlp(path: Path, digits_dir: Path) -> Any:
    return grade(path, load_spec("mlp"), digits_dir / "test.npz")


def test_lambda_layer_is_refused_and_not_run(
    keras_mod: Any, models_dir: Path, digits_dir: Path, tmp_path: Path
) -> None:
    """A Lambda layer fails the model; its function never runs."""
    marker = tmp_path / "ran"

    def side_effect(x: Any) -> Any:
        marker.write_text("code ran")
        return x

    model = keras_mod.Sequential(
        [
            keras_mod.Input(shape=(8, 8, 1)),
            keras_mod.layers.Lambda(side_effect),
            keras_mod.layers.Flatten(),
            keras_mod.layers.Dense(10, activation="softmax"),
        ]
    )
    marker.unlink()
    path = models_dir / "lambda.keras"
    model.save(path)
    report = grade_mlp(path, digits_dir)
    assert report.status == "failed"
    assert "Lambda" in report.reason and "arbitrary Python code" in report.reason
    assert not marker.exists()


def test_custom_class_is_refused(
    keras_mod: Any, models_dir: Path, digits_dir: Path
) -> None:
    """A registered custom layer is refused before Keras imports anything."""

    @keras_mod.saving.register_keras_serializable(package="evil")
    class Sneaky(keras_mod.layers.Layer):
        def call(self, inputs: Any) -> Any:
            return inputs

    model = keras_mod.Sequential(
        [
            keras_mod.Input(shape=(8, 8, 1)),
            Sneaky(),
            keras_mod.layers.Flatten(),
            keras_mod.layers.Dense(10, activation="softmax"),
        ]
    )
    path = models_dir / "custom.keras"
    model.save(path)
    report = grade_mlp(path, digits_dir)
    assert report.status == "failed"
    assert "custom class" in report.reason and "Sneaky" in report.reason


def _zip(path: Path, members: dict[str, bytes], *, deflate: bool = False) -> Path:
    method = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _keras_members(good_mlp: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(good_mlp) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _weights_cut_short(good_mlp: Path, folder: Path) -> Path:
    """Write a real model whose weights member (model.weights.npz) is empty.

    Keras reads an npz weights member with NumPy, which raises EOFError ("No
    data left in file") on an empty one: a save cut short.
    """
    members = _keras_members(good_mlp)
    del members["model.weights.h5"]
    return _zip(folder / "m.keras", {**members, "model.weights.npz": b""})


@pytest.fixture()
def legacy_h5(keras_mod: Any, tmp_path: Path) -> Path:
    path = tmp_path / "model.h5"
    mlp_layers(keras_mod).save(path)
    return path


def test_legacy_h5_is_refused(legacy_h5: Path, digits_dir: Path) -> None:
    """A legacy HDF5 file gets a hint to save as .keras."""
    report = grade_mlp(legacy_h5, digits_dir)
    assert report.status == "failed"
    assert "legacy HDF5" in report.reason and "model.keras" in report.reason


BROKEN_FILES: dict[str, tuple[Callable[[Path, Path], Path], str]] = {
    "empty": (lambda d, good: _write(d / "m.keras", b""), "empty"),
    "pickle": (
        lambda d, good: _write(d / "m.keras", pickle.dumps({"a": 1})),
        "pickle",
    ),
    "text": (lambda d, good: _write(d / "m.keras", b"hello world"), "not a Keras"),
    "not keras zip": (
        lambda d, good: _zip(d / "m.keras", {"readme.txt": b"hi"}),
        "config.json",
    ),
    "zip bomb": (
        lambda d, good: _zip(
            d / "m.keras",
            {**_keras_members(good), "assets/x": b"\0" * (8 * 2**20)},
            deflate=True,
        ),
        "zip bomb",
    ),
    "path traversal": (
        lambda d, good: _zip(d / "m.keras", {**_keras_members(good), "../x": b"1"}),
        "escapes",
    ),
    "bad config": (
        lambda d, good: _zip(
            d / "m.keras", {**_keras_members(good), "config.json": b"{not json"}
        ),
        "config.json is damaged",
    ),
    "truncated": (
        lambda d, good: _write(d / "m.keras", good.read_bytes()[:-200]),
        "",
    ),
    "weights cut short": (lambda d, good: _weights_cut_short(good, d), "cut short"),
    "garbage weights": (
        lambda d, good: _zip(
            d / "m.keras", {**_keras_members(good), "model.weights.h5": b"junk"}
        ),
        "could not load",
    ),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("kind", sorted(BROKEN_FILES))
def test_broken_file_is_a_failed_report(
    kind: str, tmp_path: Path, good_mlp: Path, digits_dir: Path
) -> None:
    """Every broken file gives status failed and a reason, never an exception."""
    make, needle = BROKEN_FILES[kind]
    report = grade_mlp(make(tmp_path, good_mlp), digits_dir)
    assert report.status == "failed"
    assert report.reason
    assert needle.lower() in report.reason.lower()
    assert report.score == 0


def test_missing_and_directory_paths(tmp_path: Path, digits_dir: Path) -> None:
    """A missing file or a directory is a failed report, not a crash."""
    (tmp_path / "dir.keras").mkdir()
    (tmp_path / "dir.keras" / "config.json").write_text("{}")
    for path in (tmp_path / "absent.keras", tmp_path / "dir.keras"):
        report = grade_mlp(path, digits_dir)
        assert report.status == "failed" and "No model file" in report.reason


def test_file_without_keras_suffix_loads(
    good_mlp: Path, tmp_path: Path, digits_dir: Path
) -> None:
    """A stored artifact without the .keras suffix is still graded."""
    path = _write(tmp_path / "artifact-1234", good_mlp.read_bytes())
    assert grade_mlp(path, digits_dir).status == "graded"


def test_inspect_archive_errors_are_typed(tmp_path: Path) -> None:
    """inspect_archive raises the documented subclasses."""
    with pytest.raises(InvalidModelFileError):
        inspect_archive(_write(tmp_path / "e.keras", b""))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("config.json", b'{"class_name": "Lambda", "config": {}}')
        archive.writestr("model.weights.h5", b"")
    with pytest.raises(UnsafeModelError):
        inspect_archive(_write(tmp_path / "l.keras", buffer.getvalue()))


def test_an_eof_error_from_the_model_file_is_a_model_file_error(
    good_mlp: Path, tmp_path: Path
) -> None:
    """Reading a model file that ends early raises EOFError inside Keras; the
    loader turns it into InvalidModelFileError with a reason to act on."""
    with pytest.raises(InvalidModelFileError) as caught:
        load_model(_weights_cut_short(good_mlp, tmp_path))
    assert isinstance(caught.value.__cause__, EOFError)
    reason = str(caught.value)
    assert "EOFError: No data left in file" in reason
    assert "cut short" in reason and "Save it again with model.save()" in reason
