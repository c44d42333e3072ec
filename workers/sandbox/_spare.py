"""A spare: a job's sandbox started ahead of time, waiting for the job.

A spare is planned exactly like the job it will run (same argv, work dir,
binds, environment, uid, cgroups, seccomp filter, tmpfs sizes, no network):
everything the job can see is decided when the spare starts. Inside, a small
waiter imports the slow modules (Keras and its backend), then blocks on its
stdin. ``Spare.run`` writes one line there and the waiter runs the job's own
command in the same interpreter, with the imports already done. A spare runs
exactly one job; one that is never used is discarded (killed, cgroups freed).

A spare is for idle capacity: it warms at a lower CPU priority (``SPARE_NICE``,
and the least CPU share for its cgroup, as nice counts only within one group)
and says when it is warm (a marker file in its work dir, removed at the
handover), so a caller can abandon one still warming when work arrives.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from ._cleanup import CleanupError
from ._launch import resolve_argv
from ._limits import Bind, SandboxError, SandboxLimits
from ._owner import release_work_dir
from ._result import SandboxResult
from ._run import plan_launch
from ._supervise import Supervisor, has_exited

GO = b"go\n"
# Warming yields the CPU to running jobs; the job itself gets the supervisor's
# priority back at the handover (where the host may raise it: root).
SPARE_NICE = 10
READY_MARKER = ".dojo-spare-ready"

# Runs first inside the sandbox as
# ``python -c WAITER MODULES PRELUDE READY JOB_ARGV...``. An import that fails is
# left for the job to meet itself, as it would cold; so is a failing PRELUDE
# (code run once imported: e.g. make the CUDA context). READY is made once warm
# and removed before the job runs, so the job finds its work dir as cold.
# Anything but "go" on stdin (EOF: the spare was discarded) exits quietly.
WAITER = r"""
import sys


def _main(job):
    import os
    import sys

    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    if job[0] == "-c":
        sys.argv = ["-c", *job[2:]]
        code = compile(job[1], "<string>", "exec")
        # Run in a __main__ as bare as a cold `python -c` gives: no waiter names.
        names = sys.modules["__main__"].__dict__
        for name in [n for n in names if not n.startswith("__")]:
            del names[name]
        exec(code, names)
    elif job[0] == "-m":
        import runpy

        sys.argv = [job[1], *job[2:]]
        runpy.run_module(job[1], run_name="__main__", alter_sys=True)
    else:
        import runpy

        sys.argv = job
        sys.path[0] = os.path.dirname(os.path.abspath(job[0]))
        runpy.run_path(job[0], run_name="__main__")


for _name in filter(None, sys.argv[1].split(",")):
    try:
        __import__(_name)
    except Exception:
        pass
if sys.argv[2]:
    try:
        exec(sys.argv[2], {})
    except Exception:
        pass
try:
    open(sys.argv[3], "w").close()
except OSError:
    pass
if sys.stdin.readline() != "go\n":
    raise SystemExit(0)
try:
    __import__("os").unlink(sys.argv[3])
except OSError:
    pass
_main(sys.argv[4:])
"""

DEFAULT_WARM = ("keras",)


def _waiter_argv(
    argv: list[str], warm: Sequence[str], prelude: str, ready: Path
) -> list[str]:
    """Return argv that warms ``warm`` then runs ``argv`` (a Python command)."""
    command = resolve_argv(argv)
    python = resolve_argv(["python"])[0]
    flag = len(command) > 1 and command[1].startswith("-")
    if (
        command[0] != python
        or len(command) < 2
        or (flag and (command[1] not in ("-c", "-m") or len(command) < 3))
    ):
        raise SandboxError(
            "A spare runs only `python SCRIPT ...`, `python -c CODE ...` or "
            "`python -m MODULE ...` jobs."
        )
    names = ",".join(warm)
    if any(not n.replace("_", "").replace(".", "").isalnum() for n in warm):
        raise SandboxError(f"Bad module names to warm: {names!r}")
    return [python, "-c", WAITER, names, prelude, str(ready), *command[1:]]


def _niced(argv: list[str]) -> list[str]:
    """Return argv run at ``SPARE_NICE`` more than this process (as is if no nice)."""
    nice = shutil.which("nice")
    return [nice, "-n", str(SPARE_NICE), *argv] if nice else argv


def _process_tree(root: int) -> list[int]:
    """Return the thread ids of ``root`` and of every process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError):
                raw = Path(entry.path, "stat").read_text()
                parent = int(raw[raw.rindex(")") + 2 :].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
    tids, stack = [], [root]
    while stack:
        pid = stack.pop()
        with contextlib.suppress(OSError):
            tids += [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        stack += children.get(pid, [])
    return tids


def _unnice(root: int) -> None:
    """Give a spare's job this process's CPU priority back, where the host may.

    Nice is per thread, and the imports may have started threads: each gets
    it. Without the right to raise a priority (not root), the job keeps the
    spare's.
    """
    own = os.getpriority(os.PRIO_PROCESS, 0)
    for tid in _process_tree(root):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, tid, own)


class Spare:
    """One sandbox, limits applied, modules imported, waiting for its one job."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        work_dir: Path,
        binds: Sequence[Bind] = (),
        env: Mapping[str, str] | None = None,
        limits: SandboxLimits = SandboxLimits(),  # noqa: B008 (frozen)
        backend: str = "bwrap",
        devices: Sequence[str] = (),
        chdir: str | None = None,
        uid: int | None = None,
        warm: Sequence[str] = DEFAULT_WARM,
        prelude: str = "",
        key: str = "",
        owned: Sequence[Path] = (),
    ) -> None:
        self.key = key
        # Folders made for this spare alone (its work and job dirs): a discarded
        # spare takes them with it; a used one leaves them to its job's cleanup.
        self.owned = tuple(Path(p) for p in owned)
        self.work_dir = Path(work_dir).resolve()
        self.limits = limits
        self._ready = self.work_dir / READY_MARKER
        launch = plan_launch(
            _waiter_argv(list(argv), warm, prelude, self._ready),
            work_dir=self.work_dir,
            binds=binds,
            env=env,
            limits=limits,
            backend=backend,
            devices=devices,
            chdir=chdir,
            uid=uid,
        )
        launch.argv = _niced(launch.argv)
        if launch.cgroups is not None:
            # Nice counts only inside one cgroup: between the spare's group and
            # a job's, the groups' shares decide, so the spare's is made least.
            launch.cgroups.cpu_share_set(idle=True)
        self._supervisor = Supervisor(
            launch,
            work_dir=self.work_dir,
            limits=limits,
            on_log=None,
            log_interval=1.0,
            should_cancel=None,
        )
        self.started = time.monotonic()
        self._proc: subprocess.Popen[bytes] | None = self._supervisor.spawn(
            stdin=subprocess.PIPE
        )

    @property
    def pid(self) -> int | None:
        """Return the sandbox's outer pid while the spare waits, else None."""
        return self._proc.pid if self._proc is not None else None

    def age(self) -> float:
        """Return seconds since the spare started."""
        return time.monotonic() - self.started

    def alive(self) -> bool:
        """Return whether the spare still waits (not used, discarded or dead)."""
        return self._proc is not None and not has_exited(self._proc.pid)

    def ready(self) -> bool:
        """Return whether the spare waits with its imports done (not warming)."""
        return self.alive() and self._ready.exists()

    def run(
        self,
        *,
        on_log: Callable[[str], None] | None = None,
        log_interval: float = 1.0,
        should_cancel: Callable[[], bool] | None = None,
        wall_seconds: float | None = None,
    ) -> SandboxResult:
        """Hand the job to the spare and supervise it like ``run()`` would.

        ``wall_seconds``: this job's wall budget, if not the spare's (wall time
        counts from the handover, so it is the one limit a job may set now).

        Raise ``SandboxError`` (and discard the spare) if it is no longer
        waiting: the caller runs the job cold, and the spare's death is charged
        to no one.
        """
        proc = self._proc
        if proc is None:
            raise SandboxError("This spare was already used or discarded.")
        self._proc = None
        supervisor = self._supervisor
        try:
            if has_exited(proc.pid):
                raise BrokenPipeError("the spare exited while waiting")
            assert proc.stdin is not None
            _unnice(proc.pid)
            if supervisor.launch.cgroups is not None:
                supervisor.launch.cgroups.cpu_share_set(idle=False)
            proc.stdin.write(GO)
            proc.stdin.close()
        except OSError as exc:
            supervisor.abandon(proc)
            self._remove_owned()
            raise SandboxError(f"The spare died while waiting: {exc}") from exc
        if wall_seconds is not None:
            supervisor.limits = replace(self.limits, wall_seconds=wall_seconds)
        supervisor.on_log = on_log
        supervisor.log_interval = log_interval
        supervisor.should_cancel = should_cancel
        return supervisor.supervise(proc)

    def discard(self) -> None:
        """Kill the spare if it still waits and free its cgroups; idempotent."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            self._supervisor.abandon(proc)
        self._remove_owned()

    def _remove_owned(self) -> None:
        for path in self.owned:
            with contextlib.suppress(CleanupError):
                release_work_dir(path)


class SparePool:
    """Keep one spare for one slot; hand it out once; replace it when it dies.

    ``refill(key, start)`` remembers how to start a spare for ``key`` (an
    assignment and everything its jobs see) and starts one. ``take(key)``
    returns it only if it was started for that key, is younger than
    ``max_age`` and still waits; any other spare is discarded and ``take``
    returns None, so the job runs cold. ``want(key, start)`` only remembers
    it, for later. ``keep()`` starts the remembered spare when none waits, or
    replaces one that died or aged while waiting: nobody was charged for it, as
    no job had been handed to it.
    """

    def __init__(self, *, enabled: bool = True, max_age: float = 600.0) -> None:
        self.enabled = enabled
        self.max_age = max_age
        self._spare: Spare | None = None
        self._key = ""
        self._start: Callable[[], Spare] | None = None
        self._lock = threading.Lock()
        self.replaced = 0

    @property
    def spare(self) -> Spare | None:
        """Return the waiting spare, if any (for reports and tests)."""
        return self._spare

    def take(self, key: str) -> Spare | None:
        """Return the spare for ``key`` and forget it, or None (run cold)."""
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is None:
            return None
        if spare.key == key and spare.age() <= self.max_age and spare.alive():
            return spare
        spare.discard()
        return None

    def refill(self, key: str, start: Callable[[], Spare]) -> None:
        """Start a spare for ``key`` with ``start`` unless one already waits."""
        if not self.enabled:
            return
        with self._lock:
            self._key, self._start = key, start
            current = self._spare
        if current is not None:
            if current.key == key and current.alive():
                return
            self.discard()
        spare = start()
        with self._lock:
            old, self._spare = self._spare, spare
            if not self.enabled:  # closed while it started
                old, self._spare = spare, None
        if old is not None:
            old.discard()

    def want(self, key: str, start: Callable[[], Spare]) -> None:
        """Remember how to start a spare for ``key``; ``keep()`` starts it later."""
        with self._lock:
            self._key, self._start = key, start

    def keep(self) -> None:
        """Start the remembered spare, or replace one that died or aged waiting."""
        with self._lock:
            spare, start, key = self._spare, self._start, self._key
        if start is None or not self.due():
            return
        if spare is not None:
            self.discard()
            self.replaced += 1
        self.refill(key, start)

    def spare_ready(self) -> bool:
        """Return whether a spare waits here with its imports done."""
        spare = self._spare
        return spare is not None and spare.ready()

    def due(self) -> bool:
        """Return whether ``keep`` would start one: none waits, or it died or aged."""
        spare = self._spare
        if not self.enabled or self._start is None:
            return False
        return spare is None or not spare.alive() or spare.age() > self.max_age

    def discard_warming(self) -> bool:
        """Discard the spare if it is still warming (its CPU is wanted); say so."""
        with self._lock:
            spare = self._spare
            if spare is None or spare.ready():
                return False
            self._spare = None
        spare.discard()
        return True

    def close(self) -> None:
        """Discard the waiting spare and start none from now on."""
        self.enabled = False
        self.discard()

    def discard(self) -> None:
        """Discard the waiting spare, if any."""
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            spare.discard()
