"""Run a planned job: stream its output, enforce limits, and classify the end."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ._launch import Launch
from ._limits import SandboxLimits
from ._logbuf import LogBuffer
from ._quota import DiskWatch, quota_full, scan
from ._result import Outcome, SandboxResult, signal_of

TICK = 0.05
CANCEL_POLL = 0.25
DISK_POLL = 1.0


def tree_usage(root_pid: int) -> tuple[int, float]:
    """Return (summed RSS bytes, CPU seconds incl. reaped children) of a process tree.

    Used where no cgroup counts for us: rusage from wait4 does not cross
    bwrap's pid namespace.
    """
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            raw = Path(entry.path, "stat").read_text()
            # Fields after the parenthesised command name, which may hold spaces.
            fields = raw[raw.rindex(")") + 2 :].split()
            pid = int(entry.name)
            stats[pid] = fields
            children.setdefault(int(fields[1]), []).append(pid)
    rss_pages = ticks = 0
    stack = [root_pid]
    while stack:
        pid = stack.pop()
        fields = stats.get(pid)
        if fields is None:
            continue
        ticks += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
        rss_pages += int(fields[21])
        stack += children.get(pid, [])
    return rss_pages * os.sysconf("SC_PAGE_SIZE"), ticks / os.sysconf("SC_CLK_TCK")


def _reader(fd: int, log: LogBuffer, stop: threading.Event) -> None:
    while True:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            if stop.is_set():
                return
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return
        if not chunk:
            return
        log.append(chunk)


def has_exited(pid: int) -> bool:
    """Return whether pid has exited, leaving it unreaped so its pid stays ours."""
    info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    return info is not None


class Supervisor:
    """Watch one running job until it ends or breaks a limit."""

    def __init__(
        self,
        launch: Launch,
        *,
        work_dir: Path,
        limits: SandboxLimits,
        on_log: Callable[[str], None] | None,
        log_interval: float,
        should_cancel: Callable[[], bool] | None,
    ) -> None:
        self.launch = launch
        self.work_dir = work_dir
        self.limits = limits
        self.on_log = on_log
        self.log_interval = log_interval
        self.should_cancel = should_cancel
        self.log = LogBuffer(keep_bytes=limits.log_bytes, home=work_dir)
        self.sampled_rss = 0
        self.sampled_cpu = 0.0
        self.disk = DiskWatch(
            work_dir, limits=limits, mounted=launch.quota_mounted, every=DISK_POLL
        )

    def run(self) -> SandboxResult:
        """Start the job, supervise it and return its result."""
        return self.supervise(self.spawn())

    def spawn(self, *, stdin: int = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
        """Start the planned process and begin draining its output.

        A spare passes ``stdin=subprocess.PIPE``: it waits on that pipe for its
        job, and ``supervise`` is called only when the job is handed to it.
        """
        cgroups = self.launch.cgroups
        try:
            proc = subprocess.Popen(
                self.launch.argv,
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=self.launch.env,
                cwd=self.launch.cwd,
                start_new_session=True,
                close_fds=True,
                pass_fds=self.launch.pass_fds,
            )
        except BaseException:
            if cgroups is not None:
                cgroups.remove()
            raise
        finally:
            for fd in self.launch.pass_fds:
                os.close(fd)
        assert proc.stdout is not None
        self._stop = threading.Event()
        self._reader = threading.Thread(
            target=_reader,
            args=(proc.stdout.fileno(), self.log, self._stop),
            daemon=True,
        )
        self._reader.start()
        return proc

    def abandon(self, proc: subprocess.Popen[bytes]) -> None:
        """Kill a spawned process that never became a job, and free its cgroups."""
        try:
            self._kill(proc.pid)
            os.wait4(proc.pid, 0)
            proc.returncode = -9
        except ChildProcessError:
            pass
        finally:
            self._stop.set()
            self._reader.join(timeout=3)
            if self.launch.cgroups is not None:
                self.launch.cgroups.remove()
            assert proc.stdout is not None
            proc.stdout.close()
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()

    def supervise(self, proc: subprocess.Popen[bytes]) -> SandboxResult:
        """Watch a spawned job until it ends or breaks a limit; return its result.

        Wall time counts from this call, so a spare's wait is never charged.
        """
        cgroups = self.launch.cgroups
        start = time.monotonic()
        stop, reader = self._stop, self._reader
        self.disk.start()
        assert proc.stdout is not None
        try:
            try:
                verdict = self._watch(proc.pid, start)
            except BaseException:
                # A failing on_log or should_cancel must not leave the job running.
                self._kill(proc.pid)
                os.wait4(proc.pid, 0)
                proc.returncode = -9
                raise
            self._kill(proc.pid)
            _, status, rusage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            wall = time.monotonic() - start
            stop.set()
            reader.join(timeout=3)
            exit_code = None if verdict is not None else proc.returncode
            cpu = max(rusage.ru_utime + rusage.ru_stime, self.sampled_cpu)
            peak: int | None = max(rusage.ru_maxrss * 1024, self.sampled_rss)
            if cgroups is not None:
                cpu = cgroups.cpu_seconds() or cpu
                peak = cgroups.peak_memory_bytes() or peak
            outcome = verdict or self._classify(proc.returncode, cpu)
        finally:
            stop.set()
            self.disk.stop()
            if cgroups is not None:
                cgroups.remove()
            proc.stdout.close()
        text, truncated = self.log.render()
        if self.on_log is not None:
            self.on_log(text)
        return SandboxResult(
            outcome=outcome,
            exit_code=exit_code,
            wall_seconds=wall,
            cpu_seconds=cpu,
            peak_memory_bytes=peak,
            log=text,
            log_truncated=truncated,
            backend=self.launch.backend,
            limits=self.limits,
        )

    def _watch(self, pid: int, start: float) -> Outcome | None:
        """Poll until the job exits (None) or must be stopped (the reason)."""
        limits, cgroups = self.limits, self.launch.cgroups
        last_log = last_cancel = last_sample = start
        sent_version = 0
        while not has_exited(pid):
            now = time.monotonic()
            if now - start > limits.wall_seconds:
                return Outcome.TIMED_OUT
            if self.log.total_bytes > limits.output_bytes:
                return Outcome.KILLED_OUTPUT
            if cgroups is not None:
                if cgroups.oom_killed():
                    return Outcome.KILLED_MEMORY
                if cgroups.pids_exhausted():
                    return Outcome.KILLED_PROCESSES
                if (cgroups.cpu_seconds() or 0) > limits.cpu_seconds:
                    return Outcome.TIMED_OUT
            if self.should_cancel is not None and now - last_cancel >= CANCEL_POLL:
                last_cancel = now
                if self.should_cancel():
                    return Outcome.CANCELLED
            # Measured by the disk watch's thread: a huge tree never stalls this loop.
            if self.disk.over:
                return Outcome.KILLED_DISK
            if now - last_sample >= DISK_POLL:
                last_sample = now
                if cgroups is None or cgroups.memory is None:
                    rss, cpu = tree_usage(pid)
                    self.sampled_rss = max(self.sampled_rss, rss)
                    self.sampled_cpu = max(self.sampled_cpu, cpu)
            version = self.log.version
            if (
                self.on_log is not None
                and version != sent_version
                and now - last_log >= self.log_interval
            ):
                sent_version, last_log = version, now
                self.on_log(self.log.render()[0])
            time.sleep(TICK)
        return None

    def _disk_broken(self) -> bool:
        """Return whether the ended job filled its quota or broke a disk limit."""
        if self.disk.over:
            return True
        if self.launch.quota_mounted and quota_full(self.work_dir):
            return True
        # Python ignores SIGXFSZ, so a file at the size limit is the sign; the
        # scan stops counting at the first limit passed, so it is bounded too.
        return scan(self.work_dir, limits=self.limits).over(self.limits)

    def _kill(self, pid: int) -> None:
        """Kill the job and everything it started; pid is still unreaped here."""
        # Killing the outer bwrap takes its pid namespace down (--die-with-parent).
        for kill in (os.killpg, os.kill):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                kill(pid, signal.SIGKILL)
        if self.launch.cgroups is not None:
            self.launch.cgroups.kill_all()

    def _classify(self, exit_code: int, cpu_seconds: float) -> Outcome:
        """Name the outcome of a job that ended by itself."""
        cgroups, limits = self.launch.cgroups, self.limits
        if cgroups is not None and cgroups.oom_killed():
            return Outcome.KILLED_MEMORY
        sig = signal_of(exit_code)
        # Even a job that exits 0 must not leave more than its disk limits.
        if sig == signal.SIGXFSZ or self._disk_broken():
            return Outcome.KILLED_DISK
        if exit_code == 0:
            return Outcome.OK
        if cgroups is not None and cgroups.pids_exhausted():
            return Outcome.KILLED_PROCESSES
        if sig == signal.SIGXCPU or cpu_seconds >= limits.cpu_seconds:
            return Outcome.TIMED_OUT
        if cgroups is None or cgroups.memory is None:
            # Under RLIMIT_AS an allocation fails instead of the OOM killer firing.
            tail = self.log.render()[0][-2000:]
            if "MemoryError" in tail or "std::bad_alloc" in tail:
                return Outcome.KILLED_MEMORY
        return Outcome.EXIT_NONZERO
