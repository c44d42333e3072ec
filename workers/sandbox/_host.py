"""How a worker places its jobs: cgroups, uids per slot, GPU devices and MPS.

A worker calls :func:`host_prepare` once at start. It refuses (SandboxUnavailable,
saying what to fix) a GPU worker that cannot cap job memory with a cgroup or whose
sandbox, with the configured Keras backend, does not see the GPU. The plan it
returns gives each slot its uid, environment, device nodes and binds.

Uids: MPS serves one uid at a time, so under MPS every slot of a GPU worker runs
as ``DOJO_SANDBOX_UID`` and per-job cgroups keep jobs apart (``pids.max`` where
the pids controller is delegated, else one documented host-wide thread cap for
that uid). Without MPS, or without a pids cgroup, slot ``i`` runs as
``DOJO_SANDBOX_UID + i``, because RLIMIT_NPROC counts every thread of a uid.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from ._cgroup import CgroupSupport, cgroup_support
from ._cleanup import remove_tree
from ._config import sandbox_config, sandbox_configure
from ._device import PROBE, gpu_devices, probe_line
from ._launch import is_root, sandbox_uid
from ._limits import GIB, MIB, Bind, SandboxLimits, SandboxUnavailable
from ._run import run

MPS_CONTROL = "nvidia-cuda-mps-control"
# A uid shared by every slot (MPS) without a pids cgroup: one cap for them all.
# 8,192 is what 16 concurrent torch jobs needed on an H200 host.
SHARED_UID_THREAD_CAP = 8192


@dataclass(frozen=True)
class JobPlace:
    """Where one slot's job runs: pass these to run()."""

    slot: int
    uid: int
    env: dict[str, str]
    devices: list[str]
    binds: list[Bind]


class Mps:
    """The MPS control daemon of one card, with its pipe and log directories."""

    def __init__(
        self, *, device: int, root: Path, memory_mb: int | None = None
    ) -> None:
        self.device = device
        self.pipe = root / "pipe"
        self.log = root / "log"
        # Each server's pinned GPU memory, set on the daemon: an environment
        # variable in the client would be the job's to change before CUDA starts.
        self.memory_mb = memory_mb

    @property
    def env(self) -> dict[str, str]:
        """Return what a client (and the daemon) needs to find the daemon."""
        return {
            "CUDA_MPS_PIPE_DIRECTORY": str(self.pipe),
            "CUDA_MPS_LOG_DIRECTORY": str(self.log),
        }

    def _control(self, args: list[str], stdin: str | None = None) -> str | None:
        env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "CUDA_VISIBLE_DEVICES": str(self.device),
            **self.env,
        }
        try:
            done = subprocess.run(
                [MPS_CONTROL, *args],
                input=stdin,
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return str(exc)
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip()[-300:]
            return detail or f"exit status {done.returncode}"
        return None

    def start(self) -> str | None:
        """Start the daemon; return None, or why it could not start."""
        for path in (self.pipe.parent, self.pipe, self.log):
            path.mkdir(parents=True, exist_ok=True)
            # Clients run as the sandbox uid: they must reach the pipes.
            path.chmod(0o1777 if path != self.pipe.parent else 0o755)
        self._control([], stdin="quit\n")  # a daemon left by an earlier worker
        why = self._control(["-d"])
        if why is None and self.memory_mb:
            # The daemon sees only this card, as device 0.
            why = self._control(
                [],
                stdin=f"set_default_device_pinned_mem_limit 0 {self.memory_mb}M\n",
            )
            if why is not None:
                self.stop()
        return why

    def stop(self) -> None:
        """Ask the daemon to quit (its servers exit when their clients have)."""
        self._control([], stdin="quit\n")


@dataclass
class HostPlan:
    """This worker's placement rules, and what it could not do (``notices``)."""

    cgroups: CgroupSupport
    uid_base: int
    slots: int = 1
    gpu_device: int = -1
    mps: Mps | None = None
    gpu_memory_mb: int | None = None
    dev_root: Path = Path("/dev")
    # What the start probe's backend called the card, once it saw it.
    gpu_name: str = ""
    notices: list[str] = field(default_factory=list)

    @property
    def per_slot_uid(self) -> bool:
        """Return whether each slot runs as its own uid."""
        if self.gpu_device >= 0 and self.mps is not None:
            return False
        return self.gpu_device >= 0 or (is_root() and not self.cgroups.pids)

    def uid_range(self) -> range:
        """Return every uid this worker's jobs may run as."""
        n = self.slots if self.per_slot_uid else 1
        return range(self.uid_base, self.uid_base + n)

    def place(self, slot: int, *, gpu: bool = True) -> JobPlace:
        """Return the uid, env, devices and binds of a job in ``slot``.

        ``gpu=False`` places a job of this worker that must not use the card.
        """
        slot = slot % max(self.slots, 1)
        uid = self.uid_base + slot if self.per_slot_uid else self.uid_base
        if self.gpu_device < 0 or not gpu:
            return JobPlace(slot=slot, uid=uid, env={}, devices=[], binds=[])
        env, devices = gpu_devices(self.gpu_device, dev_root=self.dev_root)
        binds: list[Bind] = []
        if self.mps is not None:
            # Clients see only the daemon's card, renumbered 0: CUDA_VISIBLE_DEVICES
            # in a client would point at the wrong one.
            env.pop("CUDA_VISIBLE_DEVICES")
            env.update(self.mps.env)
            # Read-only: clients connect to the daemon's sockets there (a socket
            # on a read-only mount still accepts connections) but cannot leave
            # files for the next job; the memory share is the daemon's.
            binds.append(Bind(self.mps.pipe, str(self.mps.pipe), writable=False))
        return JobPlace(slot=slot, uid=uid, env=env, devices=devices, binds=binds)

    def describe(self) -> str:
        """Return one line for the start log, each Run and the hosts page."""
        parts = [self.cgroups.describe()]
        if self.gpu_device >= 0:
            share = f", {self.gpu_memory_mb} MB GPU memory a slot" * bool(
                self.gpu_memory_mb and self.mps
            )
            parts.append(
                f"GPU {self.gpu_device} x {self.slots} slots: "
                + ("MPS" + share if self.mps else "no MPS")
            )
        if is_root():
            first, last = self.uid_range()[0], self.uid_range()[-1]
            parts.append(
                f"uids {first}-{last} (one a slot)"
                if last > first
                else f"uid {first} for every slot"
            )
        return "; ".join(parts)

    def close(self) -> None:
        """Stop what host_prepare started (the MPS daemon)."""
        if self.mps is not None:
            self.mps.stop()


_CURRENT: list[HostPlan] = []


def current_host_plan() -> HostPlan | None:
    """Return the plan host_prepare made last in this process (or its parent)."""
    return _CURRENT[-1] if _CURRENT else None


def _refuse(why: str) -> SandboxUnavailable:
    return SandboxUnavailable(f"this GPU worker cannot start: {why}")


def _probe(plan: HostPlan, *, backend: str, keras_backend: str) -> tuple[bool, str]:
    """Run the device probe in slot 0's sandbox; return (sees the GPU, detail)."""
    place = plan.place(0)
    work = Path(tempfile.mkdtemp(prefix="dojo-gpu-probe-"))
    try:
        work.chmod(0o755)
        result = run(
            ["python", "-c", PROBE],
            work_dir=work,
            binds=place.binds,
            env={**place.env, "KERAS_BACKEND": keras_backend},
            limits=SandboxLimits(
                wall_seconds=300, cpu_seconds=600, memory_bytes=8 * GIB
            ),
            backend=backend,
            devices=place.devices,
            uid=place.uid,
        )
    finally:
        # The work dir may be a tmpfs mounted by run(): remove_tree unmounts it.
        remove_tree(work)
    report = probe_line(result.log)
    if report is not None and report.on_gpu:
        return True, report.name
    seen = report.name if report else result.log.strip()[-400:] or str(result.outcome)
    return False, seen


def host_prepare(
    *,
    backend: str = "bwrap",
    gpu_device: int = -1,
    slots: int = 1,
    keras_backend: str = "tensorflow",
    uid_base: int | None = None,
    gpu_memory_mb: int | None = None,
    dev_root: Path = Path("/dev"),
    mps_root: Path | None = None,
    probe: bool = True,
    device_option: str = "DOJO_GPU_DEVICE",
    backend_option: str = "DOJO_KERAS_BACKEND",
) -> HostPlan:
    """Check this host and return how its jobs are placed; refuse a GPU that won't work.

    ``gpu_memory_mb`` is each slot's GPU memory share (default: the card's memory
    is not known here, so 80 GiB / slots). ``device_option`` and
    ``backend_option`` name where this host's operator chose the card and the
    Keras backend (a setting, a command's option), for the refusals to say.
    """
    plan = HostPlan(
        cgroups=cgroup_support() if is_root() else CgroupSupport(None, False, False),
        uid_base=sandbox_uid(uid_base),
        slots=max(slots, 1),
        gpu_device=gpu_device,
        gpu_memory_mb=gpu_memory_mb or (80 * GIB // MIB) // max(slots, 1),
        dev_root=dev_root,
    )
    if not plan.cgroups.memory:
        plan.notices.append(
            f"No memory cgroup ({plan.cgroups.describe()}): jobs are held by "
            "RLIMIT_AS instead, which counts address space, not memory used."
        )
    if gpu_device < 0:
        return _remember(plan)
    if backend != "bwrap":
        raise _refuse(f"GPU jobs need the bwrap backend, not {backend!r}.")
    if not plan.cgroups.memory:
        raise _refuse(
            f"it cannot cap job memory with a cgroup ({plan.cgroups.describe()}), and "
            "RLIMIT_AS stops CUDA from starting. Run the worker as root with cgroup v1 "
            "memory, or cgroup v2 with the memory controller delegated to its group "
            "(docker: --cgroupns=private and a writable /sys/fs/cgroup; systemd: "
            "Delegate=yes)."
        )
    nodes = gpu_devices(gpu_device, dev_root=dev_root)[1]
    if str(dev_root / f"nvidia{gpu_device}") not in nodes:
        raise _refuse(
            f"{dev_root / f'nvidia{gpu_device}'} does not exist. Give the container "
            "the GPU (compose: deploy.resources.reservations.devices; docker run "
            f"--gpus) or set {device_option} to a card this host has "
            f"(ls {dev_root}/nvidia* lists them)."
        )
    if shutil.which(MPS_CONTROL) is None:
        plan.notices.append(
            f"No MPS ({MPS_CONTROL} not found): each slot runs as its own uid "
            "and the card is time-shared, about half the jobs/hour."
        )
    else:
        plan.mps = Mps(
            device=gpu_device,
            root=mps_root or Path(tempfile.gettempdir(), f"dojo-mps-{gpu_device}"),
            memory_mb=plan.gpu_memory_mb,
        )
        why = plan.mps.start()
        if why is not None:
            plan.mps = None
            plan.notices.append(f"MPS failed to start ({why}): a uid per slot instead.")
    if plan.mps is not None and not plan.cgroups.pids:
        config = sandbox_config()
        if config.nproc is None:
            # Part of the configuration the worker makes at start, not a write
            # to the environment.
            config = sandbox_configure(replace(config, nproc=SHARED_UID_THREAD_CAP))
        plan.notices.append(
            "No pids cgroup: every slot shares uid "
            f"{plan.uid_base}, capped at {config.nproc} threads "
            "in all (DOJO_SANDBOX_NPROC)."
        )
    if not probe:
        return _remember(plan)
    sees, detail = _probe(plan, backend=backend, keras_backend=keras_backend)
    if not sees and plan.mps is not None:
        plan.close()
        plan.mps = None
        plan.notices.append(f"MPS clients could not reach the GPU ({detail}).")
        sees, detail = _probe(plan, backend=backend, keras_backend=keras_backend)
    if not sees:
        raise _refuse(
            f"a probe inside its sandbox with KERAS_BACKEND={keras_backend} does not "
            f"see GPU {gpu_device}; it reports: {detail}. Install a CUDA build of "
            f"{keras_backend} (the Dockerfile's gpu target) or set {backend_option} "
            "to a backend that has one."
        )
    plan.gpu_name = detail
    return _remember(plan)


def _remember(plan: HostPlan) -> HostPlan:
    _CURRENT[:] = [plan]
    return plan
