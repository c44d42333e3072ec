"""The outcome of one sandboxed job, and the sentence a participant reads."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ._limits import MIB, SandboxLimits


class Outcome(StrEnum):
    """How a sandboxed job ended."""

    OK = "ok"
    EXIT_NONZERO = "exit_nonzero"
    TIMED_OUT = "timed_out"
    KILLED_MEMORY = "killed_memory"
    KILLED_OUTPUT = "killed_output"
    KILLED_PROCESSES = "killed_processes"
    KILLED_DISK = "killed_disk"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class SandboxResult:
    """What a job did: how it ended, what it used, and its (capped) log.

    ``exit_code`` is None when the supervisor stopped the job; a negative value
    is the signal that killed it.
    """

    outcome: Outcome
    exit_code: int | None
    wall_seconds: float
    cpu_seconds: float
    peak_memory_bytes: int | None
    log: str
    log_truncated: bool
    backend: str
    limits: SandboxLimits = field(default_factory=SandboxLimits)

    @property
    def reason(self) -> str:
        """Return one sentence that tells a participant what happened and why."""
        limits = self.limits
        match self.outcome:
            case Outcome.OK:
                return "Your code finished successfully."
            case Outcome.EXIT_NONZERO:
                return _exit_sentence(self.exit_code)
            case Outcome.TIMED_OUT if self.cpu_seconds >= limits.cpu_seconds:
                return (
                    f"Your code was stopped after using {limits.cpu_seconds:g} s of "
                    "CPU time (the CPU-time limit)."
                )
            case Outcome.TIMED_OUT:
                return (
                    f"Your code was stopped after {limits.wall_seconds:g} s "
                    "(the wall-time limit)."
                )
            case Outcome.KILLED_MEMORY:
                return (
                    "Your code was killed: it used more than "
                    f"{limits.memory_bytes // MIB} MB of memory (the memory limit). "
                    "Use smaller batches, a smaller model or less data in memory."
                )
            case Outcome.KILLED_OUTPUT:
                return (
                    "Your code was stopped: it printed more than "
                    f"{_mb(limits.output_bytes)} MB of output (the output limit). "
                    "Print less, e.g. fit(..., verbose=2)."
                )
            case Outcome.KILLED_PROCESSES:
                return (
                    "Your code was stopped: it started more than "
                    f"{limits.max_processes} processes or threads (the process limit)."
                )
            case Outcome.KILLED_DISK:
                return (
                    "Your code was stopped: it wrote more than "
                    f"{_mb(limits.work_dir_bytes)} MB to disk (sparse files count "
                    f"at their full size), more than {limits.max_files:,} files "
                    f"and folders, or a file larger than "
                    f"{_mb(limits.file_size_bytes)} MB (the disk limits). Save "
                    "only the model and small results."
                )
            case Outcome.CANCELLED:
                return "The run was cancelled before it finished."
        return f"The run ended with outcome {self.outcome}."

    def to_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-ready dict (reason included)."""
        return {
            "outcome": str(self.outcome),
            "exit_code": self.exit_code,
            "wall_seconds": round(self.wall_seconds, 3),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "peak_memory_bytes": self.peak_memory_bytes,
            "log": self.log,
            "log_truncated": self.log_truncated,
            "backend": self.backend,
            "limits": self.limits.to_dict(),
            "reason": self.reason,
        }


def _mb(n: int) -> str:
    return f"{n / MIB:g}"


def signal_of(exit_code: int | None) -> int | None:
    """Return the signal a job died of, from Popen-style or shell-style codes."""
    if exit_code is None:
        return None
    if exit_code < 0:
        return -exit_code
    # bwrap and shells report a child killed by signal N as 128 + N.
    if 128 < exit_code < 128 + 65:
        return exit_code - 128
    return None


def _exit_sentence(exit_code: int | None) -> str:
    sig = signal_of(exit_code)
    if sig is not None:
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        return f"Your code was killed by {name}; the end of the log may show why."
    return (
        f"Your code exited with status {exit_code}; the end of the log shows the error."
    )
