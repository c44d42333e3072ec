"""Run one command under isolation and limits; return how it ended and its log.

No Django here: the Celery tasks call :func:`run` and store the result, and a
worker calls :func:`host_prepare` once at start to learn how to place its jobs.
"""

from ._cgroup import CgroupSupport, cgroup_support
from ._cleanup import CleanupError, remove_tree
from ._compile_cache import CUDA_PRELUDE, compile_cache
from ._config import SandboxConfig, sandbox_config, sandbox_configure
from ._cpu_share import CpuShare, cpu_share
from ._device import DeviceReport, parse_device, read_device_report, runner_argv
from ._files import copy_out
from ._host import HostPlan, JobPlace, current_host_plan, host_prepare
from ._limits import Bind, SandboxError, SandboxLimits, SandboxUnavailable
from ._owner import (
    FolderOwner,
    claim_work_dir,
    read_owner,
    release_work_dir,
    sweep_orphans,
)
from ._result import Outcome, SandboxResult
from ._run import check_backend, gpu_slot, prepare_work_dir, run
from ._spare import Spare, SparePool
from ._spare_policy import spare_key, spare_refill, spare_take, spares_keep
from ._text import neutralise, neutralise_json

__all__ = [
    "CUDA_PRELUDE",
    "Bind",
    "CgroupSupport",
    "CleanupError",
    "CpuShare",
    "DeviceReport",
    "FolderOwner",
    "HostPlan",
    "JobPlace",
    "Outcome",
    "SandboxError",
    "SandboxConfig",
    "SandboxLimits",
    "SandboxResult",
    "SandboxUnavailable",
    "Spare",
    "SparePool",
    "cgroup_support",
    "claim_work_dir",
    "compile_cache",
    "check_backend",
    "copy_out",
    "cpu_share",
    "current_host_plan",
    "gpu_slot",
    "host_prepare",
    "neutralise",
    "neutralise_json",
    "parse_device",
    "prepare_work_dir",
    "read_device_report",
    "read_owner",
    "release_work_dir",
    "remove_tree",
    "run",
    "runner_argv",
    "sandbox_config",
    "sandbox_configure",
    "spare_key",
    "spare_refill",
    "spare_take",
    "spares_keep",
    "sweep_orphans",
]
