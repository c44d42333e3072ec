"""Who owns a work dir, and sweeping the ones whose owner is provably gone.

A folder under the work root belongs to the process that claimed it, for as
long as that process lives or until it releases the folder: a regrade chunk
grades many models in one folder, so no single run's end says it is free. The
claim is a small marker *beside* the folder (``<name>.owner``), out of reach of
the sandbox that writes inside it, recording the process's pid, its start time
(a reused pid has another) and its pid namespace (boot id and namespace inode).

A pid means something only inside its own namespace: a worker in another
container, or on another host, shares the work root but not its pids. So a
sweeper judges only the claims made in its own namespace, and leaves every
other claim to the sweeper of that namespace (each worker runs one).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ._cleanup import CleanupError, remove_tree

logger = logging.getLogger(__name__)

OWNER_SUFFIX = ".owner"
OWNER_MAX_BYTES = 1024
SWEEP_LOCK = ".dojo-sweep.lock"
# A claim younger than this is never judged: its folder, sandbox and first
# heartbeat are still being set up, and nothing that young is worth a race.
MIN_AGE_SECONDS = 60
# An unclaimed folder (a stash left by a crash, or one made before claims
# existed) has no owner to ask; it goes once nothing has touched it for this long.
UNCLAIMED_AFTER_SECONDS = 3600


@dataclass(frozen=True)
class FolderOwner:
    """The process that claimed a work dir; pid 0 means it was released."""

    pid: int
    started: int
    namespace: str
    host: str = ""


def _namespace() -> str:
    """Return this process's pid namespace: boot id and namespace inode."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        inode = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return ""  # a claim nobody can judge: left to the unclaimed rule's owner
    return f"{boot}:{inode}"


def _started(pid: int) -> int | None:
    """Return when process ``pid`` of this namespace started, None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    # Fields after the command name, which may itself hold spaces and parens.
    fields = stat[stat.rindex(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):  # exited, waiting to be reaped
        return None
    return int(fields[19])


def this_process() -> FolderOwner:
    """Return the owner this process writes into the folders it claims."""
    pid = os.getpid()
    return FolderOwner(
        pid=pid,
        started=_started(pid) or 0,
        namespace=_namespace(),
        host=socket.gethostname(),
    )


def _marker(path: Path) -> Path:
    return path.with_name(path.name + OWNER_SUFFIX)


def _write_marker(path: Path, owner: FolderOwner) -> None:
    marker = _marker(path)
    tmp = marker.with_name(f".{marker.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(owner)))
    os.replace(tmp, marker)


def claim_work_dir(path: Path | str) -> Path:
    """Make ``path`` an empty folder owned by this process; return it.

    The claim is written before the folder exists, so no sweeper ever sees the
    folder unclaimed.
    """
    path = Path(path)
    remove_tree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_marker(path, this_process())
    path.mkdir()
    return path


def release_work_dir(path: Path | str) -> None:
    """Remove a claimed folder and its claim; a missing folder is fine.

    If the folder cannot be removed, the claim says it is released, so the next
    sweep in this namespace retries it rather than waiting for this process to
    exit. Raise :class:`CleanupError` then.
    """
    path = Path(path)
    try:
        remove_tree(path)
    except CleanupError:
        _write_marker(path, FolderOwner(pid=0, started=0, namespace=_namespace()))
        raise
    with contextlib.suppress(FileNotFoundError):
        _marker(path).unlink()


def read_owner(path: Path | str) -> FolderOwner | None:
    """Return who claimed the folder ``path``; None if no valid claim is there."""
    try:
        fd = os.open(_marker(Path(path)), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as marker:
        raw = marker.read(OWNER_MAX_BYTES + 1)
    try:
        data = json.loads(raw) if len(raw) <= OWNER_MAX_BYTES else None
        owner = FolderOwner(**data)
    except (TypeError, ValueError):
        return None
    fields = (owner.pid, owner.started, owner.namespace, owner.host)
    if [type(f) for f in fields] != [int, int, str, str] or owner.pid < 0:
        return None
    return owner


def owner_gone(owner: FolderOwner, *, namespace: str) -> bool:
    """Return whether ``owner`` provably no longer uses its folder.

    Only a claim made in ``namespace`` (the judge's own) can be proved gone:
    its pid is not running, or runs a process started at another time.
    """
    if not owner.namespace or owner.namespace != namespace:
        return False
    return owner.pid == 0 or _started(owner.pid) != owner.started


def _age(path: Path) -> float:
    try:
        return time.time() - os.lstat(path).st_mtime
    except FileNotFoundError:
        return float("inf")


def _remove(path: Path, counts: dict[str, int]) -> None:
    try:
        release_work_dir(path)
    except CleanupError:
        logger.exception("The sweeper could not remove %s; it retries next time", path)
        counts["failed"] += 1
    else:
        counts["work_dirs"] += 1


def _orphans(work_root: Path, namespace: str, min_age: float) -> list[Path]:
    """Return the folders (and stale claims) under ``work_root`` free to remove."""
    names = {entry.name for entry in os.scandir(work_root)}
    free = []
    for name in sorted(names - {SWEEP_LOCK}):
        path = work_root / name
        claimed = name.endswith(OWNER_SUFFIX)
        folder = path.with_name(name.removesuffix(OWNER_SUFFIX)) if claimed else path
        if claimed and folder.name in names:
            continue  # judged with its folder
        owner = read_owner(folder)
        if owner is None:
            if _age(path) >= UNCLAIMED_AFTER_SECONDS:
                free.append(folder)
        elif _age(_marker(folder)) >= min_age and owner_gone(
            owner, namespace=namespace
        ):
            free.append(folder)
    return free


def sweep_orphans(
    work_root: Path | str, *, min_age_seconds: float = MIN_AGE_SECONDS
) -> dict[str, int]:
    """Remove what no live process of this namespace owns; return the counts.

    Claims from other namespaces stay: their own worker sweeps them. Sweeps of
    one work root take turns (a busy one is skipped; the next runs soon). A
    claim younger than ``min_age_seconds`` is left alone; only a sweep after
    every worker of the namespace stopped (bin/dojo-run's) may pass 0.
    """
    work_root = Path(work_root)
    counts = {"work_dirs": 0, "failed": 0}
    if not work_root.is_dir():
        return counts
    with open(work_root / SWEEP_LOCK, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return counts
        for path in _orphans(work_root, _namespace(), min_age_seconds):
            _remove(path, counts)
    return counts
