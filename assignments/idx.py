"""Read the IDX files of MNIST and Fashion-MNIST with numpy, refusing bad ones.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 per dimension, then the values. Only unsigned
bytes (type 0x08) are accepted: that is what every (Fashion-)MNIST file holds.
Files may be gzip-compressed, as Debian and the Keras loaders ship them.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

UBYTE = 0x08
# The largest file we read: the 60k training images are 47 MB uncompressed.
MAX_BYTES = 256 * 1024 * 1024


class IdxError(ValueError):
    """The file is not the IDX data it should be; the message names the file."""


def _read_bytes(path: Path) -> bytes:
    try:
        with path.open("rb") as raw:
            head = raw.read(2)
            raw.seek(0)
            stream = gzip.GzipFile(fileobj=raw) if head == b"\x1f\x8b" else raw
            data = stream.read(MAX_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise IdxError(f"{path.name}: cannot be read ({exc}).") from exc
    if len(data) > MAX_BYTES:
        raise IdxError(f"{path.name}: larger than {MAX_BYTES >> 20} MB.")
    return data


def read_idx(path: Path, *, ndim: int) -> np.ndarray:
    """Return the uint8 array stored in the IDX file at ``path``.

    ``ndim`` is what the caller expects (3 for images, 1 for labels); a magic
    number, type, dimension count or length that does not match raises IdxError.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise IdxError(f"{path.name}: too short to be an IDX file.")
    zero, kind, dims = data[:2], data[2], data[3]
    if zero != b"\x00\x00":
        raise IdxError(
            f"{path.name}: bad magic number {data[:4].hex()} (an IDX file starts "
            "with two zero bytes)."
        )
    if kind != UBYTE:
        raise IdxError(
            f"{path.name}: holds type 0x{kind:02x}; expected unsigned bytes (0x08)."
        )
    if dims != ndim:
        raise IdxError(f"{path.name}: has {dims} dimensions; expected {ndim}.")
    header = 4 + 4 * dims
    if len(data) < header:
        raise IdxError(f"{path.name}: the header is cut short.")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", dims, offset=4))
    expected = int(np.prod(shape, dtype=np.int64))
    if 0 in shape or len(data) - header != expected:
        raise IdxError(
            f"{path.name}: the header says {' x '.join(map(str, shape))} "
            f"({expected} values) but the file holds {len(data) - header}."
        )
    return np.frombuffer(data, np.uint8, expected, offset=header).reshape(shape)


def read_pair(
    images: Path, labels: Path, *, image_shape: tuple[int, int], num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Read an images file and its labels file, checking they belong together."""
    x = read_idx(images, ndim=3)
    y = read_idx(labels, ndim=1)
    if x.shape[1:] != image_shape:
        raise IdxError(
            f"{Path(images).name}: images are {x.shape[1]} x {x.shape[2]}; expected "
            f"{image_shape[0]} x {image_shape[1]}."
        )
    if len(x) != len(y):
        raise IdxError(
            f"{Path(images).name} has {len(x)} images but {Path(labels).name} has "
            f"{len(y)} labels."
        )
    if y.size and int(y.max()) >= num_classes:
        raise IdxError(
            f"{Path(labels).name}: label {int(y.max())} is outside "
            f"0..{num_classes - 1}."
        )
    return x, y
