"""Hostile jobs end with a definite outcome, a readable reason, and no trace left.

After each test a fresh job must still run and no job cgroup may be left behind.
Each test runs twice: cold, and with the job handed to a spare (``Spare``).
"""

from __future__ import annotations

import json
import socket
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.workers.sandbox.sandbox_helpers import (
    RunPy,
    assert_next_job_runs,
    job_cpu_quotas,
    leftover_cgroups,
    processes_with,
)
from workers.sandbox import Outcome, SandboxLimits

PROJECT_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(params=["cold", "spare"])
def run_py_mode(request: pytest.FixtureRequest) -> str:
    """Every hostile job runs both cold and handed to a waiting spare."""
    return str(request.param)


@pytest.fixture(autouse=True)
def host_survives(sandbox_root: Path) -> Iterator[None]:
    yield
    assert_next_job_runs(sandbox_root)
    assert leftover_cgroups() == []


def test_no_network_loopback_or_public(run_py: RunPy) -> None:
    """Connecting to a host listener on 127.0.0.1 or to a public address fails."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    port = listener.getsockname()[1]
    try:
        result = run_py(
            f"""
            import socket, time
            for addr in [("127.0.0.1", {port}), ("1.1.1.1", 80)]:
                start = time.monotonic()
                try:
                    socket.create_connection(addr, timeout=3).close()
                    print("CONNECTED", addr)
                except OSError as exc:
                    print("refused", addr, type(exc).__name__,
                          round(time.monotonic() - start, 2))
            """,
            limits=SandboxLimits(wall_seconds=20),
        )
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()
    assert result.outcome is Outcome.OK, result.log
    assert "CONNECTED" not in result.log
    lines = [line for line in result.log.splitlines() if line.startswith("refused")]
    assert len(lines) == 2
    assert all(float(line.split()[-1]) < 1.0 for line in lines), lines


def test_secrets_outside_binds_are_absent(
    run_py: RunPy, sandbox_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hidden test data, the site database, settings, env and other jobs are unseen."""
    hidden = sandbox_root / "datasets" / "hidden_test_split.npz"
    site = sandbox_root / "site"
    other_job = sandbox_root / "job-other" / "model.keras"
    for path in (
        hidden,
        site / "db.sqlite3",
        site / "config" / "settings.py",
        other_job,
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("secret")
    for path in (sandbox_root, hidden.parent, site, other_job.parent):
        path.chmod(0o755)
    monkeypatch.setenv("SECRET_KEY", "django-insecure-parent")
    targets = [
        str(hidden),
        str(site / "db.sqlite3"),
        str(site / "config" / "settings.py"),
        str(other_job),
        str(PROJECT_ROOT / "pyproject.toml"),
        "/etc/shadow",
        "/etc/passwd",
        "/root",
    ]
    result = run_py(
        f"""
        import json, os
        seen = {{p: os.path.exists(p) for p in {targets!r}}}
        seen["SECRET_KEY"] = "SECRET_KEY" in os.environ
        seen["secret in environ"] = "django-insecure" in repr(os.environ)
        print(json.dumps(seen))
        """
    )
    assert result.outcome is Outcome.OK, result.log
    seen = json.loads(result.log.strip().splitlines()[-1])
    assert not any(seen.values()), seen


def test_writes_outside_work_dir_are_refused(run_py: RunPy) -> None:
    """site-packages, the project tree and /etc cannot be written."""
    site_packages = sysconfig.get_paths()["purelib"]
    targets = [
        f"{site_packages}/evil.pth",
        str(PROJECT_ROOT / "evil.py"),
        "/etc/evil",
        "/usr/lib/evil",
        "/evil",
    ]
    result = run_py(
        f"""
        for path in {targets!r}:
            try:
                open(path, "w").write("x")
                print("WROTE", path)
            except OSError as exc:
                print("refused", path, exc.strerror)
        """
    )
    assert result.outcome is Outcome.OK, result.log
    # Nothing reached the host, wherever the project lives.
    assert not any(Path(p).exists() for p in targets)
    for path in targets:
        if not path.startswith("/tmp/"):
            assert f"refused {path}" in result.log
        # A checkout under /tmp (as CI's may be) has its venv bound at the same
        # path, so the folder exists inside, on the sandbox's own private /tmp:
        # a write there lands in memory that dies with the job.


def test_fork_bomb_is_killed(run_py: RunPy) -> None:
    """A fork bomb ends killed_processes quickly and the host stays responsive."""
    start = time.monotonic()
    result = run_py(
        """
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
        """,
        limits=SandboxLimits(max_processes=32, wall_seconds=30),
    )
    assert result.outcome is Outcome.KILLED_PROCESSES, result.to_dict()
    assert "more than 32 processes" in result.reason
    assert time.monotonic() - start < 10


def test_memory_hog_is_killed(run_py: RunPy) -> None:
    """Unbounded allocation ends killed_memory within seconds."""
    result = run_py(
        """
        hog = []
        while True:
            hog.append(bytearray(10_000_000))
        """,
        limits=SandboxLimits(memory_bytes=256 * 1024**2, wall_seconds=30),
    )
    assert result.outcome is Outcome.KILLED_MEMORY, result.to_dict()
    assert result.wall_seconds < 10
    assert "more than 256 MB of memory" in result.reason


def test_one_huge_file_is_killed_disk(run_py: RunPy, work_dir: Path) -> None:
    """Writing past the file-size limit ends killed_disk."""
    result = run_py(
        """
        with open("big.bin", "wb") as f:
            while True:
                f.write(b"x" * 1_000_000)
        """,
        limits=SandboxLimits(file_size_bytes=10_000_000, wall_seconds=30),
    )
    assert result.outcome is Outcome.KILLED_DISK, result.to_dict()
    assert (work_dir / "big.bin").stat().st_size <= 10_000_000
    assert "disk limit" in result.reason


def test_many_files_hit_work_dir_limit(run_py: RunPy) -> None:
    """Filling the work dir with many small files ends killed_disk."""
    result = run_py(
        """
        import os, time
        i = 0
        while True:
            with open(f"chunk{i}", "wb") as f:
                f.write(os.urandom(1_000_000))
            i += 1
            time.sleep(0.01)
        """,
        limits=SandboxLimits(work_dir_bytes=20_000_000, wall_seconds=30),
    )
    assert result.outcome is Outcome.KILLED_DISK, result.to_dict()


def test_endless_printing_is_killed_and_log_capped(run_py: RunPy) -> None:
    """Unbounded output ends killed_output with only the log tail kept."""
    result = run_py(
        """
        i = 0
        while True:
            print("spam line", i)
            i += 1
        """,
        limits=SandboxLimits(log_bytes=10_000, output_bytes=2_000_000, wall_seconds=30),
    )
    assert result.outcome is Outcome.KILLED_OUTPUT, result.to_dict()
    assert result.log_truncated
    assert result.log.startswith("[... ")
    assert "bytes of earlier output dropped ...]" in result.log.splitlines()[0]
    assert len(result.log.encode()) <= 10_100
    assert "output limit" in result.reason


@pytest.mark.parametrize(
    "code", ["while True: pass", "import time; time.sleep(3600)"], ids=["busy", "sleep"]
)
def test_endless_job_times_out(run_py: RunPy, code: str) -> None:
    """An infinite loop or a sleep ends timed_out at the wall limit."""
    result = run_py(code, limits=SandboxLimits(wall_seconds=2))
    assert result.outcome is Outcome.TIMED_OUT
    assert 2 <= result.wall_seconds < 4
    assert result.reason == "Your code was stopped after 2 s (the wall-time limit)."


def test_cpu_limit_counts_all_processes(run_py: RunPy) -> None:
    """Burning CPU in two processes ends timed_out at the CPU-time limit, and
    while it burns its cgroup holds its CPU quota (one core of two)."""
    quotas: list[str] = []
    result = run_py(
        """
        import os
        print("burning", flush=True)
        os.fork()
        while True:
            pass
        """,
        limits=SandboxLimits(cpu_seconds=1, wall_seconds=20, cpus=1),
        # Read from the host while the job runs: its cgroup goes when it ends.
        on_log=lambda _: quotas.extend(job_cpu_quotas()),
        log_interval=0.2,
    )
    assert result.outcome is Outcome.TIMED_OUT
    assert "CPU-time limit" in result.reason
    assert quotas and set(quotas) == {"100000 100000"}


def test_background_processes_do_not_outlive_job(run_py: RunPy, work_dir: Path) -> None:
    """Daemons started by setsid, nohup or a double fork die with the job."""
    token = f"dojo-daemon-{time.time_ns()}"
    result = run_py(
        f"""
        import os, subprocess, time
        loop = "while :; do touch marker-$0; sleep 0.1; done"
        subprocess.Popen(["nohup", "sh", "-c", loop, "nohup", "{token}"],
                         start_new_session=True)
        subprocess.Popen(["setsid", "sh", "-c", loop, "setsid", "{token}"])
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execvp("sh", ["sh", "-c", loop, "fork", "{token}"])
            os._exit(0)
        time.sleep(0.5)
        print("started", sorted(os.listdir(".")))
        """
    )
    assert result.outcome is Outcome.OK, result.log
    markers = sorted(work_dir.glob("marker-*"))
    assert [m.name for m in markers] == ["marker-fork", "marker-nohup", "marker-setsid"]
    for marker in markers:
        marker.unlink()
    time.sleep(0.5)
    assert list(work_dir.glob("marker-*")) == []
    assert processes_with(token) == []


def test_killing_parent_and_pid1_leaves_supervisor_fine(run_py: RunPy) -> None:
    """kill -9 of the job's parent, pid 1 and every visible pid gives a definite end."""
    result = run_py(
        """
        import os, signal
        print("ppid", os.getppid())
        for pid in {os.getppid(), 1} | {int(p) for p in os.listdir("/proc")
                                       if p.isdigit() and int(p) != os.getpid()}:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError as exc:
                print("kill", pid, exc.strerror)
        print("still here")
        """,
        limits=SandboxLimits(wall_seconds=10),
    )
    assert result.outcome in {Outcome.OK, Outcome.EXIT_NONZERO}, result.to_dict()
    assert result.wall_seconds < 5
    assert result.reason
