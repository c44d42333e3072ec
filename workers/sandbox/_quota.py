"""Bound what a job may store: a sized tmpfs where we can mount, else a scan.

As root the work dir becomes a tmpfs of ``work_dir_bytes`` with ``max_files``
inodes, so the kernel refuses the write that would pass either (``ENOSPC``):
nothing to poll, sparse files and empty files count as what they are, and
removing the dir afterwards is one unmount. Its pages are charged to the job's
memory cgroup. Without root (or where mounting is refused) a background thread
scans the tree, counting entries and apparent size, and stops counting at the
limit, so neither a huge tree nor a slow disk can stall the supervisor.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import stat
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from ._cleanup import WORK_MOUNT_SOURCE, is_work_mount, remove_tree
from ._limits import SandboxError, SandboxLimits

MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_REMOUNT = 0x20


def _mount(path: Path, options: str, flags: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    done = libc.mount(
        WORK_MOUNT_SOURCE,
        os.fsencode(path),
        b"tmpfs",
        flags | MS_NOSUID | MS_NODEV,
        options.encode(),
    )
    if done != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(path))


def mount_work_dir(work_dir: Path, *, limits: SandboxLimits, uid: int) -> bool:
    """Make ``work_dir`` a sized tmpfs owned by ``uid``, keeping what it holds.

    Return False (and change nothing) where the kernel refuses the mount.
    """
    # One inode is the root directory itself.
    options = (
        f"size={limits.work_dir_bytes},nr_inodes={limits.max_files + 1},"
        f"mode=0755,uid={uid},gid={uid}"
    )
    if is_work_mount(os.path.realpath(work_dir)):
        try:
            _mount(work_dir, options, MS_REMOUNT)
        except OSError:
            return False
        return True
    stash = Path(tempfile.mkdtemp(prefix=".dojo-stash-", dir=work_dir.parent))
    try:
        for entry in os.scandir(work_dir):
            os.rename(entry.path, stash / entry.name)
        try:
            _mount(work_dir, options, 0)
        except OSError:
            for entry in os.scandir(stash):
                os.rename(entry.path, work_dir / entry.name)
            return False
        try:
            for entry in os.scandir(stash):
                shutil.move(entry.path, work_dir / entry.name)
        except OSError as exc:
            raise SandboxError(
                f"The work directory's inputs do not fit its {limits.work_dir_bytes}"
                f"-byte quota: {exc}"
            ) from None
    finally:
        remove_tree(stash)
    return True


@dataclass(frozen=True)
class DiskUse:
    """What a job stored: bytes (apparent size, or blocks if larger) and entries."""

    bytes: int
    files: int
    largest: int

    def over(self, limits: SandboxLimits) -> bool:
        """Return whether this breaks the disk limits."""
        return (
            self.bytes > limits.work_dir_bytes
            or self.files > limits.max_files
            or self.largest >= limits.file_size_bytes
        )


def quota_full(work_dir: Path) -> bool:
    """Return whether a work-dir tmpfs has no byte or no inode left."""
    try:
        fs = os.statvfs(work_dir)
    except OSError:
        return False
    return fs.f_bavail == 0 or fs.f_favail == 0


def scan(root: Path, *, limits: SandboxLimits) -> DiskUse:
    """Measure ``root`` without following links, stopping once a limit is passed."""
    total = files = largest = 0
    stack = [str(root)]
    while stack:
        with contextlib.suppress(OSError), os.scandir(stack.pop()) as entries:
            for entry in entries:
                files += 1
                with contextlib.suppress(OSError):
                    st = entry.stat(follow_symlinks=False)
                    total += max(st.st_size, st.st_blocks * 512)
                    if stat.S_ISDIR(st.st_mode):
                        stack.append(entry.path)
                    elif stat.S_ISREG(st.st_mode):
                        largest = max(largest, st.st_size)
                use = DiskUse(total, files, largest)
                if use.over(limits):
                    return use
    return DiskUse(total, files, largest)


class DiskWatch:
    """Check the work dir's use in a thread; the supervisor only reads ``over``."""

    def __init__(
        self, work_dir: Path, *, limits: SandboxLimits, mounted: bool, every: float
    ) -> None:
        self.work_dir = work_dir
        self.limits = limits
        self.mounted = mounted
        self.every = every
        self.over = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        """Start watching."""
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (the thread ends after its current scan)."""
        self._stop.set()

    def check(self) -> bool:
        """Measure once; return whether the job broke a disk limit."""
        # On the tmpfs the scan is cheap: it holds at most max_files entries.
        broke = (self.mounted and quota_full(self.work_dir)) or scan(
            self.work_dir, limits=self.limits
        ).over(self.limits)
        self.over = self.over or broke
        return self.over

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            if self.check():
                return
