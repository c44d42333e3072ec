"""Measure what the sandbox costs a small Keras training job.

Run the same MLP training (sklearn digits, 10 epochs) bare and in the sandbox,
alternating so machine noise hits both alike, and print the medians and the
ratio sandbox/bare. Usage: ``python bench/sandbox_overhead.py [RUNS] [--quick]``.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workers.sandbox import Outcome, remove_tree, run  # noqa: E402

TRAINING = """\
import json, time
start = time.monotonic()
import keras
from sklearn.datasets import load_digits

keras.utils.set_random_seed(0)
x, y = load_digits(return_X_y=True)
x = (x / 16.0).astype("float32")
model = keras.Sequential([
    keras.Input((64,)),
    keras.layers.Dense(128, activation="relu"),
    keras.layers.Dense(64, activation="relu"),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
ready = time.monotonic()
history = model.fit(x, y, epochs=10, batch_size=32, validation_split=0.2, verbose=0)
model.save("model.keras")
print(json.dumps({
    "train_s": time.monotonic() - ready,
    "val_accuracy": history.history["val_accuracy"][-1],
}))
"""

JOB_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "KERAS_BACKEND": "tensorflow",
    "TF_ENABLE_ONEDNN_OPTS": "1",
}


def _fresh_work_dir(root: Path, name: str) -> Path:
    work = root / name
    remove_tree(work)  # as root the work dir is a tmpfs mount: rmtree cannot
    work.mkdir()
    (work / "train.py").write_text(TRAINING)
    return work


def run_bare(root: Path) -> tuple[float, float, float]:
    """Run the training as a plain subprocess; return (wall s, train s, CPU s)."""
    work = _fresh_work_dir(root, "bare")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    out = subprocess.run(
        [sys.executable, "train.py"],
        cwd=work,
        env={**env, **JOB_ENV},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, json.loads(out.strip().splitlines()[-1])["train_s"], cpu


def run_sandboxed(root: Path) -> tuple[float, float, float]:
    """Run the training under the bwrap sandbox; return (wall s, train s, CPU s)."""
    work = _fresh_work_dir(root, "sandboxed")
    start = time.monotonic()
    result = run(["python", str(work / "train.py")], work_dir=work, env=JOB_ENV)
    wall = time.monotonic() - start
    if result.outcome is not Outcome.OK:
        raise SystemExit(f"sandboxed run failed: {result.reason}\n{result.log}")
    train = json.loads(result.log.strip().splitlines()[-1])["train_s"]
    return wall, train, result.cpu_seconds


def main() -> None:
    """Alternate bare and sandboxed runs and print the medians."""
    args = [a for a in sys.argv[1:] if a != "--quick"]
    # --quick: one pair of runs, the same code path.
    runs = 1 if "--quick" in sys.argv else int(args[0]) if args else 5
    root = Path(tempfile.mkdtemp(prefix="dojo-bench-", dir="/tmp"))
    root.chmod(0o755)
    bare: list[tuple[float, float, float]] = []
    boxed: list[tuple[float, float, float]] = []
    try:
        run_sandboxed(root)  # warm the page cache for both sides
        for i in range(runs):
            bare.append(run_bare(root))
            boxed.append(run_sandboxed(root))
            b, s = bare[-1][0], boxed[-1][0]
            print(f"run {i + 1}: bare {b:.2f} s, sandbox {s:.2f} s")
    finally:
        remove_tree(root)
    # CPU time is the figure least disturbed by other load on the machine.
    labels = ("whole job (wall)", "fit() only (wall)", "whole job (CPU)")
    for index, label in enumerate(labels):
        b = statistics.median(r[index] for r in bare)
        s = statistics.median(r[index] for r in boxed)
        print(f"{label:18} median bare {b:.3f} s  sandbox {s:.3f} s  ratio {s / b:.3f}")


if __name__ == "__main__":
    main()
