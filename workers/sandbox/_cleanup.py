"""Remove what a job left behind, whatever its shape.

A job owns its work dir, so the tree there is hostile: thousands of levels deep
(``shutil.rmtree`` recurses and raises ``RecursionError``; paths pass
``PATH_MAX``), hundreds of thousands of files, symlinks to host files, FIFOs,
directories without write or search permission. :func:`remove_tree` holds at
most two directory fds at a time and never follows a link: each subdirectory it
meets is renamed up to the top of the tree, so depth never costs stack, fds or
path length.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import itertools
import os
import stat
from pathlib import Path

MNT_DETACH = 2
WORK_MOUNT_SOURCE = b"dojo-work"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_counter = itertools.count()


class CleanupError(OSError):
    """A tree could not be removed completely; the periodic sweeper retries it."""


def is_work_mount(path: str) -> bool:
    """Return whether ``path`` is a job's work-dir tmpfs (see ``_quota``)."""
    target = os.fsencode(path)
    with contextlib.suppress(OSError), open("/proc/self/mountinfo", "rb") as info:
        for line in info:
            fields = line.split()
            sep = fields.index(b"-")
            if fields[4].replace(b"\\040", b" ") == target:
                return fields[sep + 2] == WORK_MOUNT_SOURCE
    return False


def _umount(path: Path | str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.umount2(os.fsencode(path), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        raise CleanupError(err, f"cannot unmount {path}: {os.strerror(err)}")


def is_mount(path: Path) -> bool:
    """Return whether ``path`` is a mount point (not following a final link)."""
    try:
        return not os.path.islink(path) and os.path.ismount(path)
    except OSError:
        return False


def _open_dir(name: str, dir_fd: int) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except PermissionError:
        # The job removed its own search bit: give it back (we own or are root).
        os.chmod(name, 0o700, dir_fd=dir_fd, follow_symlinks=False)
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)


def _empty(fd: int, top_fd: int, pending: list[str]) -> None:
    """Unlink every non-directory in ``fd``; move each subdirectory up to top.

    A subdirectory that is a job's work-dir tmpfs (another device) is detached
    first; any other mount point is left alone and fails the removal.
    """
    with contextlib.suppress(OSError):
        os.fchmod(fd, 0o700)
    device = os.fstat(fd).st_dev
    for entry in list(os.scandir(fd)):
        name = entry.name
        try:
            # d_type from the directory listing: no stat for plain files.
            if not entry.is_dir(follow_symlinks=False):
                os.unlink(name, dir_fd=fd)
                continue
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            continue
        except IsADirectoryError:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode) and st.st_dev != device:
            inner = os.path.join(os.readlink(f"/proc/self/fd/{fd}"), name)
            if not is_work_mount(inner):
                raise CleanupError(errno.EBUSY, f"{inner} is a mount point")
            _umount(inner)
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            flat = f".dojo-rm-{os.getpid()}-{next(_counter)}"
            os.rename(name, flat, src_dir_fd=fd, dst_dir_fd=top_fd)
            pending.append(flat)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=fd)


def remove_tree(path: Path | str) -> None:
    """Remove ``path`` and everything under it; a missing path is fine.

    A mount point (a job's sized work dir) is detached first, which frees its
    whole tree at once. Raise :class:`CleanupError` if anything is left.
    """
    path = Path(path)
    if is_mount(path):
        _umount(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        path.unlink()
        return
    try:
        top_fd = os.open(path, _DIR_FLAGS)
    except OSError as exc:
        raise CleanupError(exc.errno, f"cannot open {path}: {exc.strerror}") from None
    try:
        pending = ["."]
        while pending:
            name = pending.pop()
            fd = top_fd if name == "." else _open_dir(name, top_fd)
            try:
                _empty(fd, top_fd, pending)
            finally:
                if fd != top_fd:
                    os.close(fd)
            if name != ".":
                # Its subdirectories were moved up, so it is empty now.
                os.rmdir(name, dir_fd=top_fd)
    except OSError as exc:
        raise CleanupError(
            exc.errno or errno.EIO, f"cannot remove {path}: {exc}"
        ) from None
    finally:
        os.close(top_fd)
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise CleanupError(exc.errno, f"cannot remove {path}: {exc.strerror}") from None
