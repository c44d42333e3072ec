"""Take files out of a finished job's work directory without trusting them."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path


def copy_out(folder: Path, name: str, target: Path, *, max_bytes: int) -> bool:
    """Copy ``folder/name`` to ``target`` only if it is a regular file.

    The job owned ``folder``: it may have made ``name`` (or ``folder`` itself) a
    symlink to a host file, a FIFO that blocks, or a huge sparse file. Links are
    never followed, and nothing past ``max_bytes`` is copied. Return whether the
    file was copied.
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
                shutil.copyfileobj(source, copy)
        return True
    finally:
        os.close(dir_fd)
