"""A work dir belongs to the process that claimed it; a sweeper removes it only
once that owner is provably gone, and judges only claims of its own pid
namespace (real processes, real folders, a real second pid namespace)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from workers.sandbox import (
    CleanupError,
    claim_work_dir,
    read_owner,
    release_work_dir,
    sweep_orphans,
)

ROOT = Path(__file__).resolve().parents[3]
CLAIM = "import sys; from workers.sandbox import claim_work_dir; "
CLAIM += "claim_work_dir(sys.argv[1])"
HOLD = CLAIM + "; print('claimed', flush=True); sys.stdin.read()"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _claim_elsewhere(folder: Path, *wrapper: str) -> None:
    """Claim ``folder`` in another process, which then exits."""
    subprocess.run(
        [*wrapper, sys.executable, "-c", CLAIM, str(folder)], env=ENV, check=True
    )


@contextlib.contextmanager
def _held(folder: Path) -> Iterator[subprocess.Popen]:
    """Claim ``folder`` in another process that lives until the block ends."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)],
        env=ENV,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline() == "claimed\n"
        yield proc
    finally:
        proc.stdin.close()
        proc.wait()


def _claim_file(folder: Path) -> Path:
    return folder.with_name(folder.name + ".owner")


def _age(*paths: Path) -> None:
    """Make a claim look decades old (its folder too)."""
    for path in paths:
        for each in (path, _claim_file(path)):
            if os.path.lexists(each):
                os.utime(each, (0, 0), follow_symlinks=False)


def test_a_folder_stays_while_its_owner_lives_and_goes_once_it_is_gone(
    tmp_path: Path,
) -> None:
    """A regrade round's folders, claimed by the process grading the chunk, stay
    however old, whichever of the chunk's runs ended; once that process exits,
    the next sweep removes them and their claims."""
    work, job = tmp_path / "regrade-7-1-r2", tmp_path / "regrade-7-1-r2-job"
    with _held(work) as owner, _held(job):
        (work / "progress").mkdir()
        _age(work, job)
        assert read_owner(work).pid == owner.pid
        assert sweep_orphans(tmp_path)["work_dirs"] == 0
        assert work.is_dir() and job.is_dir()
    assert sweep_orphans(tmp_path) == {"work_dirs": 2, "failed": 0}
    assert sorted(p.name for p in tmp_path.iterdir()) == [".dojo-sweep.lock"]


def test_a_claim_is_judged_by_pid_and_start_time_and_only_once_a_minute_old(
    tmp_path: Path,
) -> None:
    """A pid now running another process does not keep a dead owner's folder;
    a claim under a minute old is never judged, even with its owner gone."""
    reused, young = tmp_path / "spare-reused", tmp_path / "spare-young"
    claim_work_dir(reused)
    claim = json.loads(_claim_file(reused).read_text())
    _claim_file(reused).write_text(json.dumps({**claim, "started": 1}))
    _claim_elsewhere(young)
    _age(reused)

    sweep_orphans(tmp_path)

    assert not reused.exists() and not _claim_file(reused).exists()
    assert young.is_dir()


def test_claims_of_another_pid_namespace_are_left_alone(tmp_path: Path) -> None:
    """A worker in another container (another pid namespace) shares the work
    root but not its pids: its folders stay here whatever its pids say here,
    for its own sweeper to judge."""
    if shutil.which("unshare") is None:
        pytest.fail("util-linux's unshare is needed to make a second pid namespace")
    other = tmp_path / "spare-1-a1b2c3"
    _claim_elsewhere(
        other,
        *("unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount-proc"),
    )
    assert (
        read_owner(other).namespace
        != read_owner(claim_work_dir(tmp_path / "x")).namespace
    )
    _age(other)

    sweep_orphans(tmp_path)

    assert other.is_dir() and read_owner(other) is not None


def test_a_failed_release_is_retried_by_the_next_sweep(tmp_path: Path) -> None:
    """A folder its owner could not remove is marked released, so the next sweep
    retries it while the owner still lives."""
    folder = claim_work_dir(tmp_path / "run-5")
    inner = folder / "proc"
    inner.mkdir()
    assert os.system(f"mount -t proc proc {inner}") == 0
    try:
        with pytest.raises(CleanupError):
            release_work_dir(folder)
    finally:
        os.system(f"umount {inner}")
    assert read_owner(folder).pid == 0
    _age(folder)

    assert sweep_orphans(tmp_path) == {"work_dirs": 1, "failed": 0}
    assert not folder.exists() and not _claim_file(folder).exists()


def test_unclaimed_folders_and_unreadable_claims_wait_an_hour(tmp_path: Path) -> None:
    """A folder without a valid claim (a crash's stash, a claim that is not
    JSON, a linked claim, which is never followed) goes after an hour untouched;
    a stray claim of a gone owner goes with the sweep."""
    fresh, old = tmp_path / ".dojo-stash-fresh", tmp_path / ".dojo-stash-old"
    garbage, linked = tmp_path / "run-8", tmp_path / "run-9"
    for folder in (fresh, old, garbage, linked):
        folder.mkdir()
    _claim_file(garbage).write_bytes(b"\x00" * 5000)
    _claim_elsewhere(tmp_path / "gone")
    os.rmdir(tmp_path / "gone")  # a claim whose folder is already removed
    _claim_file(linked).symlink_to(_claim_file(tmp_path / "gone"))
    assert read_owner(garbage) is None and read_owner(linked) is None
    _age(old, garbage, linked, tmp_path / "gone")

    sweep_orphans(tmp_path)

    assert fresh.is_dir()
    gone = [old, garbage, linked, _claim_file(tmp_path / "gone")]
    assert not any(os.path.lexists(p) for p in gone), [p for p in gone if p.exists()]
