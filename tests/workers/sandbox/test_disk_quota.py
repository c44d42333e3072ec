"""A job's disk is really bounded: bytes, apparent size, file count, /tmp, /dev/shm."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from tests.workers.sandbox.sandbox_helpers import RunPy
from workers.sandbox import Outcome, SandboxLimits, copy_out
from workers.sandbox._cleanup import is_mount
from workers.sandbox._quota import DiskWatch, scan

MIB = 2**20


def test_many_empty_files_pass_the_file_count_limit(run_py: RunPy) -> None:
    """Empty files take no blocks, but past max_files the job ends killed_disk."""
    result = run_py(
        """
        import os
        os.mkdir("many")
        for i in range(5000):
            open(f"many/{i}", "w").close()
        print("made 5000")
        """,
        limits=SandboxLimits(max_files=1000, wall_seconds=60),
    )
    assert result.outcome is Outcome.KILLED_DISK, result.to_dict()
    assert "made 5000" not in result.log
    assert "files" in result.reason


def test_work_dir_is_a_sized_tmpfs_with_an_inode_limit(
    run_py: RunPy, work_dir: Path
) -> None:
    """As root the kernel enforces the quota: the write past it gets ENOSPC."""
    result = run_py(
        """
        with open("fill", "wb") as f:
            for _ in range(64):
                f.write(b"x" * 2**20)
        """,
        limits=SandboxLimits(work_dir_bytes=8 * MIB, wall_seconds=30),
    )
    assert is_mount(work_dir)
    assert result.outcome is Outcome.KILLED_DISK, result.to_dict()
    assert "No space left on device" in result.log
    assert (work_dir / "fill").stat().st_size <= 8 * MIB


def test_sparse_file_counts_by_its_apparent_size(run_py: RunPy) -> None:
    """A 64 MiB sparse file (no blocks) breaks a 16 MiB limit even if the job
    exits 0."""
    result = run_py(
        """
        with open("sparse.bin", "wb") as f:
            f.truncate(64 * 2**20)
        print("sparse made")
        """,
        limits=SandboxLimits(work_dir_bytes=16 * MIB, wall_seconds=30),
    )
    assert result.outcome is Outcome.KILLED_DISK, result.to_dict()


def test_tmp_and_dev_shm_are_sized(run_py: RunPy) -> None:
    """/tmp and /dev/shm refuse writes past tmp_bytes (ENOSPC)."""
    result = run_py(
        """
        for folder in ("/tmp", "/dev/shm"):
            try:
                with open(folder + "/fill", "wb") as f:
                    for _ in range(32):
                        f.write(b"x" * 2**20)
                print(folder, "unbounded")
            except OSError as exc:
                print(folder, "refused", exc.errno)
        """,
        limits=SandboxLimits(tmp_bytes=8 * MIB, wall_seconds=30),
    )
    assert result.outcome is Outcome.OK, result.to_dict()
    assert "/tmp refused 28" in result.log
    assert "/dev/shm refused 28" in result.log


def test_dev_shm_counts_against_the_jobs_memory(run_py: RunPy) -> None:
    """Filling /dev/shm within its size but past the memory limit is killed_memory."""
    result = run_py(
        """
        with open("/dev/shm/fill", "wb") as f:
            for _ in range(400):
                f.write(b"x" * 2**20)
        """,
        limits=SandboxLimits(
            tmp_bytes=1024 * MIB, memory_bytes=200 * MIB, wall_seconds=60
        ),
    )
    assert result.outcome is Outcome.KILLED_MEMORY, result.to_dict()


def test_scan_stops_at_the_limit_and_never_stalls_the_supervisor(
    sandbox_root: Path,
) -> None:
    """The fallback scan counts at most max_files entries, in its own thread."""
    tree = sandbox_root / "tree"
    tree.mkdir()
    for i in range(3000):
        (tree / str(i)).touch()
    limits = SandboxLimits(max_files=100)
    use = scan(tree, limits=limits)
    assert use.files == 101
    watch = DiskWatch(tree, limits=limits, mounted=False, every=0.01)
    watch.start()
    deadline = time.monotonic() + 10
    while not watch.over and time.monotonic() < deadline:
        time.sleep(0.01)
    watch.stop()
    assert watch.over
    assert threading.current_thread() is threading.main_thread()


def test_copy_out_keeps_a_sparse_artifact_sparse(sandbox_root: Path) -> None:
    """A sparse model.keras is copied hole for hole, never expanded on the host."""
    out = sandbox_root / "out"
    out.mkdir()
    with open(out / "model.keras", "wb") as f:
        f.write(b"PK head")
        f.seek(200 * MIB)
        f.write(b"tail")
    target = sandbox_root / "keep" / "model.keras"
    assert copy_out(out, "model.keras", target, max_bytes=256 * MIB)
    info = os.stat(target)
    assert info.st_size == 200 * MIB + 4
    assert info.st_blocks * 512 < 1 * MIB
    with open(target, "rb") as f:
        assert f.read(7) == b"PK head"
        f.seek(200 * MIB)
        assert f.read() == b"tail"


def test_copy_out_refuses_an_oversized_artifact(sandbox_root: Path) -> None:
    """A file whose apparent size passes max_bytes is not copied at all."""
    out = sandbox_root / "out"
    out.mkdir()
    with open(out / "model.keras", "wb") as f:
        f.truncate(300 * MIB)
    target = sandbox_root / "keep" / "model.keras"
    assert not copy_out(out, "model.keras", target, max_bytes=256 * MIB)
    assert not target.exists()
