"""Worker memory: an idle worker never imports TensorFlow and stays small.

Starts a real worker, lets it idle, and reads the resident memory of the worker
and its pool child from /proc. Prints it as a ratio against a process that
imported TensorFlow in the same run (what the worker would cost if it did), and
against the 150 MB target.

    .venv/bin/python bench/worker_memory.py [--quick]
"""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _site import test_database

TARGET_MB = 150


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def loads_tensorflow(pid: int) -> bool:
    return "tensorflow" in Path(f"/proc/{pid}/maps").read_text()


def main(*, idle_seconds: float) -> None:
    from tests.helpers import WorkerProcess

    log = Path(tempfile.mkdtemp()) / "worker.log"
    worker = WorkerProcess(log=log)
    try:
        time.sleep(idle_seconds)
        main_pid = worker.process.pid
        pids = [main_pid, *children(main_pid)]
        sizes = {pid: rss_mb(pid) for pid in pids}
        with_tf = [pid for pid in pids if loads_tensorflow(pid)]
    finally:
        worker.stop()
    tf = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import tensorflow, time; print('ok', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    tf.stdout.readline()
    tf_mb = rss_mb(tf.pid)
    tf.kill()
    for pid, size in sizes.items():
        role = "main" if pid == main_pid else "pool child"
        print(f"worker {role} (pid {pid}): {size:.0f} MB resident")
    biggest = max(sizes.values())
    print(f"processes that loaded TensorFlow: {with_tf or 'none'}")
    print(f"a process that imports TensorFlow: {tf_mb:.0f} MB")
    print(f"largest worker process / TensorFlow process = {biggest / tf_mb:.2f}")
    print(f"largest worker process / {TARGET_MB} MB target = {biggest / TARGET_MB:.2f}")


if __name__ == "__main__":
    # --quick: a shorter idle, the same measurement.
    with test_database():
        main(idle_seconds=2 if "--quick" in sys.argv else 5)
