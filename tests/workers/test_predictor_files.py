"""The predictor's model files: a byte budget, least recently used out first."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from workers import sandbox
from workers.predictor_files import ModelFiles, ModelsBusy, ModelTooLarge

KIB = 1024


def _source(folder: Path, name: str, size: int) -> Path:
    path = folder / name
    path.write_bytes(os.urandom(size))
    return path


def _kept(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in folder.iterdir()}


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    out = tmp_path / "sources"
    out.mkdir()
    return out


@pytest.fixture
def shelf(tmp_path: Path) -> ModelFiles:
    folder = tmp_path / "models"
    folder.mkdir()
    return ModelFiles(folder, budget_bytes=100 * KIB)


def test_files_are_evicted_by_their_bytes_least_recently_used_first(
    shelf: ModelFiles, sources: Path
) -> None:
    """Two large files fill the budget: the next one removes the least recently
    used of them, whatever their number, and the folder never holds more."""
    for key, size in (("a", 45), ("b", 45)):
        shelf.place(key=key, source=_source(sources, key, size * KIB))
    shelf.place(key="a", source=sources / "a")  # used again: b is older now
    shelf.place(key="c", source=_source(sources, "c", 20 * KIB))
    assert set(_kept(shelf.folder)) == {"a.keras", "c.keras"}
    shelf.place(key="d", source=_source(sources, "d", 90 * KIB))
    kept = _kept(shelf.folder)
    assert set(kept) == {"d.keras"} and sum(kept.values()) <= shelf.budget_bytes
    shelf.place(key="b", source=sources / "b")  # copied in again
    assert set(_kept(shelf.folder)) == {"b.keras"}


def test_a_file_larger_than_the_whole_budget_is_refused_with_a_reason(
    shelf: ModelFiles, sources: Path
) -> None:
    shelf.place(key="a", source=_source(sources, "a", 10 * KIB))
    with pytest.raises(ModelTooLarge, match="models tried here may be at most"):
        shelf.place(key="big", source=_source(sources, "big", 101 * KIB))
    assert set(_kept(shelf.folder)) == {"a.keras"}  # nothing removed for it


def test_a_file_a_request_still_needs_is_never_evicted(
    shelf: ModelFiles, sources: Path
) -> None:
    """Room held by requests in flight is not taken from under them: the new
    model is told to try again instead."""
    shelf.place(key="a", source=_source(sources, "a", 60 * KIB))
    with shelf.in_use("a"):
        with pytest.raises(ModelsBusy, match="try again"):
            shelf.place(key="b", source=_source(sources, "b", 60 * KIB))
        assert set(_kept(shelf.folder)) == {"a.keras"}
    shelf.place(key="b", source=sources / "b")
    assert set(_kept(shelf.folder)) == {"b.keras"}


def test_partial_copies_are_removed_at_start_and_before_each_copy(
    tmp_path: Path, sources: Path
) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / ".x.1234.tmp").write_bytes(b"half a model")
    shelf = ModelFiles(folder, budget_bytes=100 * KIB)
    assert _kept(folder) == {}
    (folder / ".y.5678.tmp").write_bytes(b"half another")
    shelf.place(key="a", source=_source(sources, "a", KIB))
    assert set(_kept(folder)) == {"a.keras"}


def test_a_copy_that_fails_leaves_no_partial_file(
    tmp_path: Path, sources: Path
) -> None:
    """A copy into a full folder (a real, small tmpfs) fails, and what it had
    written is removed: the space is not lost for the next model."""
    assert os.geteuid() == 0, "this test mounts a tmpfs: run it as root, as CI"
    folder = tmp_path / "work"
    folder.mkdir()
    limits = sandbox.SandboxLimits(work_dir_bytes=64 * KIB)
    assert sandbox.prepare_work_dir(folder, limits=limits, backend="bwrap")
    try:
        shelf = ModelFiles(folder, budget_bytes=1024 * KIB)  # more than there is
        with pytest.raises(OSError):
            shelf.place(key="big", source=_source(sources, "big", 256 * KIB))
        assert _kept(folder) == {}
        shelf.place(key="small", source=_source(sources, "small", 16 * KIB))
        assert set(_kept(folder)) == {"small.keras"}
    finally:
        sandbox.remove_tree(folder)
