"""Take files out of a finished job's work directory without trusting them."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

CHUNK = 1024 * 1024


def _copy_sparse(source: int, target: int, *, size: int) -> None:
    """Copy only the data extents of ``source``; holes stay holes in ``target``.

    A job can make a file of ``size`` bytes that takes no disk (a sparse file);
    copying it byte by byte would write all of them on the host.
    """
    offset = 0
    while offset < size:
        try:
            start = os.lseek(source, offset, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # only a hole is left
                break
            raise
        end = min(os.lseek(source, start, os.SEEK_HOLE), size)
        while start < end:
            chunk = os.pread(source, min(CHUNK, end - start), start)
            if not chunk:
                return
            os.pwrite(target, chunk, start)
            start += len(chunk)
        offset = end
    os.ftruncate(target, size)


def copy_out(folder: Path, name: str, target: Path, *, max_bytes: int) -> bool:
    """Copy ``folder/name`` to ``target`` only if it is a regular file.

    The job owned ``folder``: it may have made ``name`` (or ``folder`` itself) a
    symlink to a host file, a FIFO that blocks, or a huge sparse file. Links are
    never followed, a file whose apparent size passes ``max_bytes`` is refused,
    and holes are kept as holes, never written out. Return whether the file was
    copied.
    """
    try:
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        try:
            fd = os.open(
                name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd
            )
        except OSError:
            return False
        with os.fdopen(fd, "rb") as source:
            info = os.fstat(source.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
                return False
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as copy:
                _copy_sparse(source.fileno(), copy.fileno(), size=info.st_size)
        return True
    finally:
        os.close(dir_fd)
