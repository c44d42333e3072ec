"""Helpers for tests and benchmarks: real worker processes, polling."""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALL_QUEUES = "train-cpu,train-gpu,evaluate,site,predict,check"


def wait_for(
    predicate: Callable[[], object],
    *,
    timeout: float = 120,
    every: float = 0.25,
    what: str = "condition",
) -> object:
    """Poll until predicate returns something truthy; fail with `what` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class WorkerProcess:
    """A real Celery worker in its own process group, on the configured broker."""

    def __init__(
        self,
        *,
        queues: str = ALL_QUEUES,
        beat: bool = False,
        env: dict[str, str] | None = None,
        log: Path,
        pool: str | None = None,
        concurrency: int = 1,
    ) -> None:
        from django.db import connection

        self.log = log
        self.name = f"test-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
        environment = {
            **os.environ,
            "PYTHONPATH": f"{ROOT / 'platform'}{os.pathsep}{ROOT}",
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DOJO_TEST_DATABASE_NAME": str(connection.settings_dict["NAME"]),
            **(env or {}),
        }
        argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config.celery_app",
            "worker",
            "-Q",
            queues,
            "-c",
            str(concurrency),
            "-l",
            "info",
            "--without-gossip",
            "--without-mingle",
            "-n",
            self.name,
        ]
        if beat:
            argv += ["-B", "-s", str(log.with_suffix(".beat"))]
        if pool:
            argv += ["-P", pool]
        self.process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=environment,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log.read_text()}")
            if b" ready." in self.log.read_bytes():
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready in {timeout}s:\n{self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL the worker and every process it started, as a crash would."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        stop_all([self])


def stop_all(workers: list[WorkerProcess], grace: float = 20) -> None:
    """SIGTERM every worker at once, then SIGKILL those still up after ``grace``.

    At once, so a session that started several pays one grace period, not one each.
    """
    running = [w for w in workers if w.process.poll() is None]
    for worker in running:
        os.killpg(worker.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for worker in running:
        try:
            worker.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            worker.kill()


def wait_for_other_sessions(timeout: float = 10.0, quiet: float = 0.3) -> None:
    """Wait until no other PostgreSQL session of this database has been mid-query
    for ``quiet`` seconds: a request a page sent before it closed, or a query of
    a worker the test started (its reconciler, a heartbeat), can still hold row
    locks the flush's TRUNCATE would deadlock with. SQLite serialises writers
    and needs no wait.
    """
    import time

    from django.db import connection

    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                "current_database() AND pid <> pg_backend_pid() AND state <> 'idle'"
            )
            if cursor.fetchone()[0]:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= quiet:
                return
            time.sleep(0.05)
