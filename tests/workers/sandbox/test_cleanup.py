"""Whatever a job leaves behind, remove_tree removes it, and never follows it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.workers.sandbox.sandbox_helpers import RunPy
from workers.sandbox import CleanupError, Outcome, SandboxLimits, remove_tree
from workers.sandbox._cleanup import is_mount

DEPTH = 5_000
EMPTY_FILES = 100_000


def _deep_tree(root: Path, depth: int) -> None:
    """Make root/d/d/.../d, ``depth`` levels (far past PATH_MAX), with fds."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = inner
    with open(os.open("leaf.txt", os.O_WRONLY | os.O_CREAT, dir_fd=fd), "w") as f:
        f.write("bottom")
    os.close(fd)


@pytest.fixture
def scratch(sandbox_root: Path) -> Iterator[Path]:
    """Return a folder on a private tmpfs: 100,000 files there take seconds, not
    the minute the shared disk needs. The tree inside is removed entry by entry,
    exactly as on disk."""
    folder = sandbox_root / "scratch"
    folder.mkdir()
    assert os.system(f"mount -t tmpfs -o size=512m dojo-test-scratch {folder}") == 0
    yield folder
    os.system(f"umount {folder}")


def test_removes_a_tree_5000_levels_deep_and_100000_empty_files(
    scratch: Path,
) -> None:
    """shutil.rmtree raises RecursionError on this tree; remove_tree empties it."""
    victim = scratch / "left-behind"
    victim.mkdir()
    _deep_tree(victim, DEPTH)
    many = victim / "many"
    many.mkdir()
    for i in range(EMPTY_FILES):
        os.close(os.open(many / f"f{i}", os.O_WRONLY | os.O_CREAT, 0o600))
    remove_tree(victim)
    assert not victim.exists()


def test_never_follows_links_and_undoes_locked_dirs(sandbox_root: Path) -> None:
    """A link to a host file or dir is removed as a link; a chmod 000 dir goes too."""
    host = sandbox_root / "host"
    host.mkdir()
    (host / "precious.txt").write_text("keep me")
    victim = sandbox_root / "victim"
    (victim / "locked" / "inner").mkdir(parents=True)
    (victim / "locked" / "inner" / "f").write_text("x")
    os.symlink(host, victim / "link-to-dir")
    os.symlink(host / "precious.txt", victim / "locked" / "link-to-file")
    os.mkfifo(victim / "fifo")
    (victim / "locked" / "inner").chmod(0)
    (victim / "locked").chmod(0)
    remove_tree(victim)
    assert not victim.exists()
    assert (host / "precious.txt").read_text() == "keep me"


def test_a_foreign_mount_inside_is_refused_not_emptied(sandbox_root: Path) -> None:
    """remove_tree detaches only job work dirs; another mount point stops it."""
    victim = sandbox_root / "victim"
    inner = victim / "proc"
    inner.mkdir(parents=True)
    assert os.system(f"mount -t proc proc {inner}") == 0
    try:
        with pytest.raises(CleanupError):
            remove_tree(victim)
    finally:
        os.system(f"umount {inner}")
    remove_tree(victim)
    assert not victim.exists()


def test_a_job_leaving_a_deep_tree_in_its_work_dir_is_cleaned(
    run_py: RunPy, work_dir: Path
) -> None:
    """The job's 5,000-level tree goes with its work dir (a tmpfs, detached)."""
    result = run_py(
        f"""
        import os
        for _ in range({DEPTH}):
            os.mkdir("d")
            os.chdir("d")
        print("deep")
        """,
        limits=SandboxLimits(wall_seconds=60),
    )
    assert result.outcome is Outcome.OK, result.to_dict()
    assert is_mount(work_dir)
    remove_tree(work_dir)
    assert not work_dir.exists()
