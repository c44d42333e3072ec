"""The seccomp filter and --disable-userns refuse what a job must never do.

The probe's arguments give, without the filter, answers other than EPERM
(success, ENOENT, EFAULT, ENOSPC, EINVAL), so EPERM proves the filter refused.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pyseccomp

from workers.sandbox import Outcome, SandboxLimits, run
from workers.sandbox._seccomp import DENIED_SYSCALLS, filter_program, filter_rules

PROBE = Path(__file__).with_name("seccomp_probe.py")
CALLS = (
    "unshare setns clone clone3 mount keyctl add_key bpf perf_event_open "
    "userfaultfd ptrace io_uring_setup io_uring_enter io_uring_register"
).split()


def _probe(work_dir: Path) -> dict[str, str]:
    shutil.copy(PROBE, work_dir / "probe.py")
    numbers = {
        name: pyseccomp.resolve_syscall(pyseccomp.system_arch(), name) for name in CALLS
    }
    result = run(
        ["python", str(work_dir / "probe.py"), json.dumps(numbers)],
        work_dir=work_dir,
        limits=SandboxLimits(wall_seconds=60),
    )
    assert result.outcome is Outcome.OK, result.to_dict()
    line = next(ln for ln in result.log.splitlines() if ln.startswith("PROBE "))
    return json.loads(line.removeprefix("PROBE "))


def test_each_dangerous_call_is_refused_by_the_filter(work_dir: Path) -> None:
    """New namespaces, mount, keyctl, add_key, bpf, perf_event_open, userfaultfd,
    ptrace of another process and setns all fail with EPERM inside the sandbox;
    clone3 reports ENOSYS so the C library falls back to a filterable clone."""
    found = _probe(work_dir)
    assert found.pop("Seccomp") == "2", "the job does not run under a filter"
    assert found.pop("clone3") == "ENOSYS"
    assert found == {name: "EPERM" for name in found}, found


def test_nested_user_and_network_namespaces_fail(run_py) -> None:
    """`unshare -Urm` and `unshare -Urn`, which worked before, now fail."""
    result = run_py(
        """
        import subprocess
        for flags in ("-Urm", "-Urn", "-r", "-n"):
            done = subprocess.run(["unshare", flags, "true"], capture_output=True)
            print("unshare", flags, "rc", done.returncode)
        """,
        limits=SandboxLimits(wall_seconds=30),
    )
    assert result.outcome is Outcome.OK, result.to_dict()
    for flags in ("-Urm", "-Urn", "-r", "-n"):
        assert f"unshare {flags} rc 1" in result.log, result.log


def test_filter_is_built_by_libseccomp_with_every_denied_call(tmp_path) -> None:
    """libseccomp's own listing of the filter has a rule for each denied call,
    and the program bwrap loads is whole BPF instructions."""
    assert len(filter_program()) % 8 == 0
    with open(tmp_path / "filter.pfc", "w+") as listing:
        filter_rules().export_pfc(listing)
        listing.seek(0)
        text = listing.read()
    arch = pyseccomp.system_arch()
    for name in DENIED_SYSCALLS:
        try:
            pyseccomp.resolve_syscall(arch, name)
        except (OSError, ValueError):
            continue
        assert f'"{name}"' in text, name


def test_keras_training_runs_under_the_filter(run_py) -> None:
    """A small Keras model trains, saves and reloads inside the filtered sandbox."""
    result = run_py(
        textwrap.dedent(
            """
            import numpy as np, keras
            x = np.random.default_rng(0).random((64, 8)).astype("float32")
            y = (x.sum(axis=1) > 4).astype("int32")
            model = keras.Sequential([
                keras.Input((8,)),
                keras.layers.Dense(8, activation="relu"),
                keras.layers.Dense(2, activation="softmax"),
            ])
            model.compile("adam", "sparse_categorical_crossentropy")
            model.fit(x, y, epochs=2, verbose=0)
            model.save("model.keras")
            keras.models.load_model("model.keras")
            print("TRAINED")
            """
        ),
        env={"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"},
        limits=SandboxLimits(wall_seconds=180),
    )
    assert result.outcome is Outcome.OK, result.log[-2000:]
    assert "TRAINED" in result.log
