"""The "local" backend: a plain subprocess with rlimits, for machines without bwrap.

It isolates nothing (the job sees the host filesystem, network and environment
of the uid); it only bounds resources. Never chosen silently: the caller names it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from ._cgroup import job_cgroups
from ._launch import Launch, cgroup_prefix, is_root, job_env, prlimit_prefix
from ._limits import Bind, SandboxError, SandboxLimits


def _link_binds(binds: Sequence[Bind], work_dir: Path) -> None:
    """Make each bind visible at its target, which must lie inside work_dir."""
    for bind in binds:
        source = Path(bind.source).resolve()
        target = Path(bind.target)
        if target == source:
            continue
        if not target.is_relative_to(work_dir):
            raise SandboxError(
                f"The local backend cannot mount {source} at {target}: use a target "
                f"inside the work directory ({work_dir}) or the bwrap backend."
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink():
            target.unlink()
        target.symlink_to(source)


def build_local(
    argv: list[str],
    *,
    work_dir: Path,
    binds: Sequence[Bind],
    env: Mapping[str, str] | None,
    limits: SandboxLimits,
    chdir: str | None,
) -> Launch:
    """Plan a job as a plain subprocess under rlimits (and cgroups when root)."""
    _link_binds(binds, work_dir)
    cgroups = None
    if is_root():
        cgroups = job_cgroups(
            memory_bytes=limits.memory_bytes,
            max_processes=limits.max_processes,
            cpus=limits.cpus,
        )
    nproc_uid = None if is_root() else os.getuid()
    full = [
        *cgroup_prefix(cgroups),
        *prlimit_prefix(limits=limits, cgroups=cgroups, nproc_uid=nproc_uid),
        *argv,
    ]
    return Launch(
        argv=full,
        env=job_env(home=str(work_dir), env=env),
        cwd=chdir or str(work_dir),
        backend="local",
        cgroups=cgroups,
    )
