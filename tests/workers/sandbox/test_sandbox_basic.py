"""The sandbox runs ordinary jobs, streams their log, and can be cancelled."""

from __future__ import annotations

import json
import os
import stat
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.workers.sandbox.sandbox_helpers import RunPy
from workers.sandbox import (
    Bind,
    Outcome,
    SandboxLimits,
    SandboxResult,
    check_backend,
    run,
)


def test_runs_python_and_captures_log(run_py: RunPy, work_dir: Path) -> None:
    """A job's stdout and stderr land in the log and its work dir is writable."""
    result = run_py(
        """
        import os, sys
        print("hello from", os.getuid())
        print("to stderr", file=sys.stderr)
        open("model.keras", "w").write("weights")
        """
    )
    assert result.outcome is Outcome.OK
    assert result.exit_code == 0
    assert "hello from 65534" in result.log
    assert "to stderr" in result.log
    assert (work_dir / "model.keras").read_text() == "weights"
    assert result.backend == "bwrap"
    assert result.reason == "Your code finished successfully."
    assert result.peak_memory_bytes and result.peak_memory_bytes > 0
    assert json.loads(json.dumps(result.to_dict()))["outcome"] == "ok"


def test_tensorflow_startup_notes_are_left_out_of_the_log(run_py: RunPy) -> None:
    """TensorFlow's C++ startup notes, which TF_CPP_MIN_LOG_LEVEL no longer
    silences, do not reach the log; its warnings and the job's own lines do."""
    result = run_py(
        """
        import sys
        err = sys.stderr
        print("WARNING: All log messages before absl::InitializeLog() is called"
              " are written to STDERR", file=err)
        print("I0000 00:00:1796200397.941985       2 port.cc:153] oneDNN custom"
              " operations are on.", file=err)
        print("I0000 00:00:1796199943.211188   11774 cpu_feature_guard.cc:227]"
              " This TensorFlow binary is optimized.", file=err)
        print("To enable the following instructions: AVX2 FMA, in other"
              " operations, rebuild TensorFlow with the appropriate compiler"
              " flags.", file=err)
        print("W0000 00:00:1796200397.9 2 gpu_device.cc:2344] Cannot dlopen", file=err)
        print("I1202 08:33:15.123 140 train.py:12] my own absl-py line")
        print("Epoch 1/5")
        """
    )
    assert result.outcome is Outcome.OK, result.to_dict()
    assert "absl::InitializeLog" not in result.log
    assert "oneDNN" not in result.log and "cpu_feature_guard" not in result.log
    assert "compiler flags" not in result.log
    assert "Cannot dlopen" in result.log
    assert "my own absl-py line" in result.log
    assert "Epoch 1/5" in result.log


def test_environment_is_cleared(run_py: RunPy, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the passed env and a few basics reach the job."""
    monkeypatch.setenv("SECRET_KEY", "parent-secret")
    result = run_py(
        "import os, json; print(json.dumps(dict(os.environ)))",
        env={"KERAS_BACKEND": "tensorflow"},
    )
    env = json.loads(result.log.strip().splitlines()[-1])
    assert "SECRET_KEY" not in env
    assert env["KERAS_BACKEND"] == "tensorflow"
    assert env["HOME"] == "/tmp"
    assert set(env) <= {
        "PATH", "HOME", "LANG", "USER", "LOGNAME", "PYTHONUNBUFFERED", "PWD",
        "KERAS_BACKEND",
    }  # fmt: skip


def test_inputs_are_bound_read_only(run_py: RunPy, sandbox_root: Path) -> None:
    """A bound data directory is readable inside and cannot be written."""
    data = sandbox_root / "data"
    data.mkdir()
    (data / "train.csv").write_text("1,2,3\n")
    result = run_py(
        """
        print(open("/data/train.csv").read().strip())
        try:
            open("/data/evil", "w")
        except OSError as exc:
            print("write refused", exc.errno)
        """,
        binds=[Bind(data, "/data")],
    )
    assert "1,2,3" in result.log
    assert "write refused 30" in result.log  # EROFS
    assert not (data / "evil").exists()


def test_nonzero_exit_reason(run_py: RunPy) -> None:
    """A failing job ends exit_nonzero with its traceback in the log."""
    result = run_py("raise ValueError('bad shapes')")
    assert result.outcome is Outcome.EXIT_NONZERO
    assert result.exit_code == 1
    assert "ValueError: bad shapes" in result.log
    assert "exited with status 1" in result.reason


def test_on_log_streams_while_running(run_py: RunPy) -> None:
    """on_log sees the log grow during the run, then once more at the end."""
    calls: list[tuple[float, str]] = []
    start = time.monotonic()
    result = run_py(
        """
        import time
        for i in range(12):
            print("epoch", i)
            time.sleep(0.2)
        """,
        on_log=lambda text: calls.append((time.monotonic() - start, text)),
        log_interval=0.5,
    )
    assert result.outcome is Outcome.OK
    assert len(calls) >= 4
    assert calls[-1][1] == result.log
    early = [text for t, text in calls if t < result.wall_seconds - 0.5]
    assert early and "epoch 0" in early[0] and "epoch 11" not in early[0]
    gaps = [b[0] - a[0] for a, b in zip(calls[:-2], calls[1:-1], strict=True)]
    assert all(g >= 0.45 for g in gaps)


def test_the_log_reads_as_a_terminal_shows_it(run_py: RunPy, work_dir: Path) -> None:
    """Lines redrawn with carriage returns keep their final state, Keras's
    colour and bold escapes are consumed rather than shown, backspaces apply,
    and paths under the job's own folder are shown relative to it."""
    result = run_py(
        """
        import os, sys
        for i in range(5):
            sys.stdout.write(f"\\rstep {i}/5")
        print()
        print("\\x1b[1m85/85\\x1b[0m \\x1b[32m━━━━\\x1b[0m loss: 0.5")
        print("typo\\b\\bed")
        print("saved", os.path.join(os.getcwd(), "output", "model.keras"))
        print("bell \\x1b alone")
        """
    )
    assert result.log.splitlines() == [
        "step 4/5",
        "85/85 ━━━━ loss: 0.5",
        "tyed",
        "saved output/model.keras",
        "bell ␛ alone",
    ]
    assert str(work_dir) not in result.log


def test_cancel_stops_job_quickly(run_py: RunPy) -> None:
    """should_cancel returning True kills the job within seconds."""
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    start = time.monotonic()
    result = run_py("import time; time.sleep(60)", should_cancel=cancel.is_set)
    assert result.outcome is Outcome.CANCELLED
    assert time.monotonic() - start < 5
    assert result.exit_code is None
    assert "cancelled" in result.reason


def test_tensorflow_imports_under_default_limits(run_py: RunPy) -> None:
    """TensorFlow starts inside the sandbox with the default memory limit."""
    result = run_py(
        "import tensorflow as tf; print('tf', tf.__version__, tf.reduce_sum([1, 2]))",
        env={"TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.outcome is Outcome.OK, result.log
    assert "tf 2." in result.log


def test_local_backend_applies_rlimits(run_py: RunPy) -> None:
    """The local backend runs the job with file-size, CPU and core rlimits."""
    limits = SandboxLimits(file_size_bytes=5_000_000, cpu_seconds=30)
    result = run_py(
        """
        import resource
        for name in ("RLIMIT_FSIZE", "RLIMIT_CPU", "RLIMIT_CORE"):
            print(name, resource.getrlimit(getattr(resource, name))[0])
        """,
        backend="local",
        limits=limits,
    )
    assert result.outcome is Outcome.OK
    assert result.backend == "local"
    assert "RLIMIT_FSIZE 5000000" in result.log
    assert "RLIMIT_CPU 30" in result.log
    assert "RLIMIT_CORE 0" in result.log


def test_local_backend_enforces_wall_time(run_py: RunPy) -> None:
    """The local backend also stops a job at the wall-time limit."""
    result = run_py(
        "while True: pass", backend="local", limits=SandboxLimits(wall_seconds=1)
    )
    assert result.outcome is Outcome.TIMED_OUT


def test_check_backend_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without bwrap on PATH, check_backend and run() explain how to install it."""
    from workers.sandbox import SandboxUnavailable, _bwrap

    monkeypatch.setenv("PATH", "/nonexistent")
    _bwrap.check_bwrap.cache_clear()
    try:
        with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
            check_backend("bwrap")
        with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
            run(["python", "-c", "pass"], work_dir=Path("/tmp"))
    finally:
        _bwrap.check_bwrap.cache_clear()


def test_check_backend_rejects_unknown_name() -> None:
    """An unknown backend name is refused with the valid choices."""
    from workers.sandbox import SandboxUnavailable

    with pytest.raises(SandboxUnavailable, match="bwrap, local"):
        check_backend("docker")


def test_unreadable_runtime_is_explained(sandbox_root: Path) -> None:
    """A runtime under a 0700 directory (a pyenv in /root) is reported as such."""
    from workers.sandbox._bwrap import blocked_for

    private = sandbox_root / "root-home"
    (private / ".pyenv" / "bin").mkdir(parents=True)
    private.chmod(0o700)
    blocker = blocked_for(private / ".pyenv" / "bin", uid=65534, gid=65534)
    assert blocker is not None and "root-home" in blocker and "0700" in blocker
    assert blocked_for(sys.prefix, uid=65534, gid=65534) is None


def test_result_reasons_are_readable() -> None:
    """Each outcome has a sentence naming the limit that was hit."""
    limits = SandboxLimits(wall_seconds=300, memory_bytes=4096 * 1024**2)

    def reason(outcome: Outcome, **kw: object) -> str:
        fields = dict(exit_code=None, wall_seconds=1.0, cpu_seconds=1.0)
        fields.update(kw)
        return SandboxResult(
            outcome=outcome,
            peak_memory_bytes=None,
            log="",
            log_truncated=False,
            backend="bwrap",
            limits=limits,
            **fields,  # type: ignore[arg-type]
        ).reason

    assert reason(Outcome.TIMED_OUT) == (
        "Your code was stopped after 300 s (the wall-time limit)."
    )
    assert "more than 4096 MB of memory" in reason(Outcome.KILLED_MEMORY)
    assert "CPU-time limit" in reason(Outcome.TIMED_OUT, cpu_seconds=1200.0)
    assert "SIGKILL" in reason(Outcome.EXIT_NONZERO, exit_code=-9)
    assert "SIGSEGV" in reason(Outcome.EXIT_NONZERO, exit_code=139)


def test_devices_are_passed_through_only_when_asked(run_py: RunPy) -> None:
    """A device node exists inside only when listed in devices (GPU slots)."""
    # A character device like /dev/null under a name bwrap's /dev never has,
    # standing in for /dev/nvidia0 (the test runs as root, as CI does).
    device = "/dev/dojo-test-gpu0"
    Path(device).unlink(missing_ok=True)
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    try:
        code = f"import os; print('present', os.path.exists({device!r}))"
        assert "present False" in run_py(code).log
        assert "present True" in run_py(code, devices=[device]).log
    finally:
        Path(device).unlink(missing_ok=True)


def test_failing_callback_kills_the_job(run_py: RunPy, work_dir: Path) -> None:
    """If on_log raises (say the database is down) the job is killed, not left."""

    def broken_on_log(text: str) -> None:
        raise ConnectionError("database went away")

    with pytest.raises(ConnectionError):
        run_py(
            """
            import time
            while True:
                open("alive", "w").close()
                print("tick", flush=True)
                time.sleep(0.05)
            """,
            on_log=broken_on_log,
            log_interval=0.1,
        )
    # "alive" is made before the first line the callback sees: on a loaded
    # machine the kill could land between a print and the file.
    (work_dir / "alive").unlink()
    time.sleep(0.5)
    assert not (work_dir / "alive").exists()
