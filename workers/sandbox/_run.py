"""The public entry points: run(), check_backend() and gpu_slot()."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ._bwrap import build_bwrap, check_bwrap
from ._cgroup import cgroup_support
from ._device import gpu_devices
from ._launch import Launch, is_root, resolve_argv, sandbox_uid
from ._limits import Bind, SandboxError, SandboxLimits, SandboxUnavailable
from ._local import build_local
from ._quota import mount_work_dir
from ._result import SandboxResult
from ._supervise import Supervisor

BACKENDS = ("bwrap", "local")


def check_backend(name: str, *, uid: int | None = None) -> None:
    """Raise SandboxUnavailable, saying how to fix it, unless ``name`` can run jobs.

    Call it when a worker starts, so a host that cannot sandbox fails loudly
    instead of every job failing later.
    """
    if name == "local":
        return
    if name == "bwrap":
        check_bwrap(sandbox_uid(uid))
        return
    raise SandboxUnavailable(
        f"Unknown sandbox backend {name!r}: choose one of {', '.join(BACKENDS)}."
    )


def run(
    argv: Sequence[str],
    *,
    work_dir: Path,
    binds: Sequence[Bind] = (),
    env: Mapping[str, str] | None = None,
    limits: SandboxLimits = SandboxLimits(),  # noqa: B008 (frozen, so shared is safe)
    backend: str = "bwrap",
    on_log: Callable[[str], None] | None = None,
    log_interval: float = 1.0,
    should_cancel: Callable[[], bool] | None = None,
    devices: Sequence[str] = (),
    chdir: str | None = None,
    uid: int | None = None,
) -> SandboxResult:
    """Run ``argv`` in a sandbox and return how it ended, what it used and its log.

    ``work_dir`` is the only writable directory and appears at the same path
    inside; ``binds`` add inputs. A leading ``"python"`` means this interpreter.
    ``on_log`` receives the whole (capped) log so far, from the calling thread,
    at most every ``log_interval`` seconds while it grows and once at the end.
    """
    work_dir = Path(work_dir).resolve()
    launch = plan_launch(
        resolve_argv(argv),
        work_dir=work_dir,
        binds=binds,
        env=env,
        limits=limits,
        backend=backend,
        devices=devices,
        chdir=chdir,
        uid=uid,
    )
    return Supervisor(
        launch,
        work_dir=work_dir,
        limits=limits,
        on_log=on_log,
        log_interval=log_interval,
        should_cancel=should_cancel,
    ).run()


def plan_launch(
    argv: list[str],
    *,
    work_dir: Path,
    binds: Sequence[Bind],
    env: Mapping[str, str] | None,
    limits: SandboxLimits,
    backend: str,
    devices: Sequence[str],
    chdir: str | None,
    uid: int | None,
) -> Launch:
    """Check the request and plan the job: argv, env, cgroups, seccomp fd."""
    if not work_dir.is_dir():
        raise SandboxError(f"The work directory does not exist: {work_dir}")
    check_backend(backend, uid=uid)
    missing = [d for d in devices if not Path(d).exists()]
    if missing:
        raise SandboxError(f"Device nodes not found on this host: {missing}")
    if devices and backend == "bwrap" and not cgroup_support().memory:
        # RLIMIT_AS would stop CUDA from starting: the job would train on the CPU.
        raise SandboxUnavailable(
            "A GPU job needs a memory cgroup (run the worker as root with cgroup v1 "
            "memory or a delegated cgroup v2 memory controller); RLIMIT_AS would "
            "stop CUDA from starting."
        )
    if backend == "bwrap":
        return build_bwrap(
            argv,
            work_dir=work_dir,
            binds=binds,
            env=env,
            limits=limits,
            devices=devices,
            chdir=chdir,
            uid=sandbox_uid(uid),
        )
    if devices:
        raise SandboxError("The local backend cannot restrict devices.")
    return build_local(
        argv, work_dir=work_dir, binds=binds, env=env, limits=limits, chdir=chdir
    )


def prepare_work_dir(
    work_dir: Path,
    *,
    limits: SandboxLimits = SandboxLimits(),  # noqa: B008 (frozen, so shared is safe)
    backend: str = "bwrap",
    uid: int | None = None,
) -> bool:
    """Make ``work_dir`` its sized tmpfs now, before ``run()`` does it.

    ``run()`` mounts it on its own; call this first only when you write into the
    work dir while the job runs (a server answering files), so no write lands in
    the moment the mount is made. Return whether it is a mount now.
    """
    if backend != "bwrap" or not is_root():
        return False
    return mount_work_dir(Path(work_dir), limits=limits, uid=sandbox_uid(uid))


def gpu_slot(
    device_index: int, *, dev_root: Path = Path("/dev")
) -> tuple[dict[str, str], list[str]]:
    """Return the env and device nodes that give a job GPU ``device_index`` only."""
    return gpu_devices(device_index, dev_root=dev_root)
