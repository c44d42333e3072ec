"""Limits, binds and errors: the small value types a caller builds."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

GIB = 1024**3
MIB = 1024**2

# TensorFlow cannot start its thread pools under a smaller address-space limit,
# so RLIMIT_AS (used only where no memory cgroup can be made) never goes below it.
ADDRESS_SPACE_FLOOR = 3 * GIB


class SandboxError(Exception):
    """Base class for every error the sandbox raises before a job runs."""


class SandboxUnavailable(SandboxError):
    """The backend cannot run on this machine; the message says how to fix it."""


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits for one sandboxed job.

    ``log_bytes`` is the tail of the output that is kept (a marker line says how
    much earlier output was dropped); ``output_bytes`` is the total output after
    which the job is killed, so a chatty but healthy training (Keras progress
    bars) keeps running while an endless ``print`` loop does not.
    ``work_dir_bytes`` and ``max_files`` bound the work dir (apparent size and
    entries); ``tmp_bytes`` sizes each of ``/tmp`` and ``/dev/shm``, whose pages
    count against ``memory_bytes``. ``cpus`` is the CPU bandwidth the job may use
    at any moment, in cores (1.5: one and a half; 0: no quota), enforced by the
    cpu cgroup where one can be made; ``cpu_seconds`` bounds its total.
    """

    wall_seconds: float = 600
    cpu_seconds: float = 1200
    memory_bytes: int = 4 * GIB
    max_processes: int = 256
    file_size_bytes: int = 256 * MIB
    work_dir_bytes: int = 512 * MIB
    max_files: int = 10_000
    tmp_bytes: int = 256 * MIB
    log_bytes: int = 1 * MIB
    output_bytes: int = 64 * MIB
    cpus: float = 0

    def to_dict(self) -> dict[str, float | int]:
        """Return the limits as a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class Bind:
    """A host path made visible inside the sandbox at ``target``."""

    source: Path | str
    target: str
    writable: bool = False

    def __post_init__(self) -> None:
        if not str(self.target).startswith("/"):
            raise SandboxError(f"Bind target must be an absolute path: {self.target!r}")
