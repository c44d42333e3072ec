"""What the backends share: the launch plan, argv resolution, env and rlimits."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ._cgroup import AnyCgroups
from ._config import sandbox_config
from ._limits import ADDRESS_SPACE_FLOOR, SandboxError, SandboxLimits

# Run as root before the uid drop: join the job's cgroups, then exec the rest.
# A wrapper shell avoids preexec_fn, which is unsafe in a threaded supervisor.
JOIN_CGROUPS_SH = (
    'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; '
    'shift; n=$((n-1)); done; exec "$@"'
)


@dataclass
class Launch:
    """A ready-to-spawn job: the full argv, its environment and its cgroups.

    ``pass_fds`` are handed to the job (the seccomp program bwrap reads) and
    closed by the supervisor once it started; ``quota_mounted`` says the work
    dir is a sized tmpfs, so the kernel, not a scan, bounds it.
    """

    argv: list[str]
    env: dict[str, str]
    cwd: str | None
    backend: str
    cgroups: AnyCgroups | None
    pass_fds: tuple[int, ...] = field(default=())
    quota_mounted: bool = False


def sandbox_uid(uid: int | None = None) -> int:
    """Return the uid jobs run as: the argument, else the configured one."""
    if uid is not None:
        return uid
    return sandbox_config().uid


def is_root() -> bool:
    """Return whether the supervisor runs as root (and so may drop to a uid)."""
    return os.geteuid() == 0


def resolve_argv(argv: Sequence[str]) -> list[str]:
    """Return argv with a leading "python" replaced by this interpreter."""
    if not argv:
        raise SandboxError("run() needs a command: argv is empty")
    argv = [str(a) for a in argv]
    if argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    return argv


def job_env(*, home: str, env: Mapping[str, str] | None) -> dict[str, str]:
    """Return the whole environment a job sees: a few basics plus ``env``."""
    base = {
        "PATH": f"{sys.prefix}/bin:/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "USER": "dojo",
        "LOGNAME": "dojo",
        # Unbuffered output is what makes the log appear live on the page.
        "PYTHONUNBUFFERED": "1",
    }
    return {**base, **(env or {})}


def _threads_of_uid(uid: int) -> int:
    count = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            status = Path(entry.path, "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields.get("Uid", "-1").split()[0]) == uid:
            count += int(fields.get("Threads", "1"))
    return count


def shared_uid_nproc() -> int | None:
    """Return the fixed RLIMIT_NPROC for a uid all slots share (DOJO_SANDBOX_NPROC).

    Set where jobs share one uid (MPS) and no pids controller is delegated: one
    host-wide thread cap for that uid, instead of "the uid's threads now + the
    limit", which lets the first job's threads starve the jobs started after it.
    """
    return sandbox_config().nproc


def prlimit_prefix(
    *,
    limits: SandboxLimits,
    cgroups: AnyCgroups | None,
    nproc_uid: int | None,
    gpu: bool = False,
) -> list[str]:
    """Return a ``prlimit`` command prefix applying the rlimit part of ``limits``.

    ``nproc_uid`` is the uid whose processes RLIMIT_NPROC counts (None: do not
    set it, e.g. for root, where the kernel ignores it). A ``gpu`` job never gets
    RLIMIT_AS: CUDA cannot start under it and the job would silently train on the
    CPU; its memory is bounded by the memory cgroup that run() insists on.
    """
    cpu = math.ceil(limits.cpu_seconds)
    args = [
        "prlimit",
        # SIGXCPU at the soft limit, SIGKILL a little later if it is ignored.
        f"--cpu={cpu}:{cpu + 5}",
        f"--fsize={limits.file_size_bytes}",
        "--core=0",
    ]
    if (cgroups is None or cgroups.memory is None) and not gpu:
        args.append(f"--as={max(limits.memory_bytes, ADDRESS_SPACE_FLOOR)}")
    if (cgroups is None or cgroups.pids is None) and nproc_uid is not None:
        # The kernel counts every process of the uid on the host, not per job.
        fixed = shared_uid_nproc()
        if fixed is None:
            fixed = _threads_of_uid(nproc_uid) + limits.max_processes
        args.append(f"--nproc={fixed}")
    return [*args, "--"]


def cgroup_prefix(cgroups: AnyCgroups | None) -> list[str]:
    """Return a wrapper that moves the job into its cgroups before exec."""
    if cgroups is None or not cgroups.groups:
        return []
    files = cgroups.procs_files()
    return ["/bin/sh", "-c", JOIN_CGROUPS_SH, "sh", str(len(files)), *files]
