"""Run one command under isolation and limits; return how it ended and its log.

No Django here: the Celery tasks call :func:`run` and store the result.
"""

from ._cleanup import CleanupError, remove_tree
from ._files import copy_out
from ._limits import Bind, SandboxError, SandboxLimits, SandboxUnavailable
from ._result import Outcome, SandboxResult
from ._run import check_backend, gpu_slot, run
from ._text import neutralise, neutralise_json

__all__ = [
    "Bind",
    "CleanupError",
    "Outcome",
    "SandboxError",
    "SandboxLimits",
    "SandboxResult",
    "SandboxUnavailable",
    "check_backend",
    "copy_out",
    "gpu_slot",
    "neutralise",
    "neutralise_json",
    "remove_tree",
    "run",
]
