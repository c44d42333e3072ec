"""Measure DL101 CNN jobs/hour on one GPU: K sandboxed slots against K bare jobs.

Each job is the DL101 CNN (Conv32-Pool-Conv64-Pool-Drop-Dense128-Drop-Dense10),
3 epochs on 60,000 28x28 images, batch 128. The images are random (seeded): the
figure is throughput, and the GPU host has no dataset package. For K = 1, 8 and
16 it runs K jobs at once through the worker's own sandbox code, placed as the GPU
worker places them (``host_prepare``: MPS with one uid and a pinned memory share
when the daemon is there, else a uid per slot), then the same K jobs unsandboxed
and without MPS in the same run, and prints jobs/hour and the ratio. Last, one hog
(allocates GPU memory, then host memory, until stopped) runs beside 7 normal jobs.

Then, at ``--warm-slots`` (16), each slot runs ``--waves`` jobs back to back,
cold and then warm (each job handed to the slot's spare: sandbox, limits, Keras
and the CUDA context ready; the next spare starts as the job is handed over),
and prints jobs/hour for both (target 2,500/h per card warm). ``--jax-cache DIR``
binds a JAX compilation cache read-only into every job.

Usage, as root on the GPU host: ``python bench/gpu_slots.py [--device 0]
[--slots 1,8,16] [--warm-slots 16] [--backend torch] [--out FILE] [--quick]``.
On a host without the GPU (or with ``--quick``) it runs a small CPU smoke test
of the same code (2 slots, little data) and says so.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workers import sandbox  # noqa: E402

JOB = """\
import json, os, time
start = time.monotonic()
import numpy as np
import keras
layers = keras.layers
n, epochs = int(os.environ["BENCH_SAMPLES"]), int(os.environ["BENCH_EPOCHS"])
rng = np.random.default_rng(0)
x = rng.random((n, 28, 28, 1), dtype=np.float32)
y = rng.integers(0, 10, n)
model = keras.Sequential([
    keras.Input((28, 28, 1)),
    layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(),
    layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(),
    layers.Dropout(0.25), layers.Flatten(),
    layers.Dense(128, activation="relu"), layers.Dropout(0.5),
    layers.Dense(10, activation="softmax"),
])
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
ready = time.monotonic()
model.fit(x, y, batch_size=128, epochs=epochs, verbose=2)
print("BENCH " + json.dumps({"import_s": ready - start,
                             "train_s": time.monotonic() - ready}))
"""

# Takes GPU memory (1 GiB at a time, on Keras' default device) until refused,
# then host memory until the memory cgroup kills it.
HOG = """\
import keras
held = []
try:
    while True:
        held.append(keras.ops.ones((256, 1024, 1024)))
        print("gpu GiB", len(held), flush=True)
except Exception as exc:
    print("GPU allocation refused after", len(held), "GiB:", type(exc).__name__)
more = []
while True:
    more.append(bytearray(256 * 2**20))
"""


def _work_dir(root: Path, name: str, code: str) -> Path:
    work = root / name
    work.mkdir()
    (work / "job.py").write_text(code)
    return work


def _job_env(args: argparse.Namespace) -> dict[str, str]:
    return {
        "KERAS_BACKEND": args.backend,
        "BENCH_SAMPLES": str(args.samples),
        "BENCH_EPOCHS": str(args.epochs),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
    }


def _sandboxed(plan, slot: int, work: Path, args, *, gpu: bool) -> dict:
    place = plan.place(slot, gpu=gpu)
    report = work / "device.json"
    result = sandbox.run(
        sandbox.runner_argv(str(work / "job.py")),
        work_dir=work,
        binds=place.binds,
        env={**_job_env(args), **place.env, "DOJO_DEVICE_REPORT": str(report)},
        limits=sandbox.SandboxLimits(
            wall_seconds=args.wall,
            cpu_seconds=args.wall * 8,
            memory_bytes=args.memory_gib * 2**30,
            max_processes=1024,
        ),
        devices=place.devices,
        uid=place.uid,
    )
    device = sandbox.read_device_report(report)
    return {
        "slot": slot,
        "uid": place.uid,
        "outcome": str(result.outcome),
        "wall_s": round(result.wall_seconds, 1),
        "peak_memory_bytes": result.peak_memory_bytes,
        "device": device.name if device else "",
        "on_gpu": device.on_gpu if device else None,
        "tail": result.log.strip()[-300:] if result.outcome != "ok" else "",
    }


def _plan_job(plan, slot: int, work: Path, args, *, gpu: bool) -> dict:
    """Return the sandbox arguments a slot's job gets (cold or in a spare)."""
    place = plan.place(slot, gpu=gpu)
    binds, env = list(place.binds), {**_job_env(args), **place.env}
    if args.jax_cache is not None:
        cache_binds, cache_env = sandbox.compile_cache(
            args.jax_cache, backend=args.backend
        )
        binds += cache_binds
        env.update(cache_env)
    return {
        "work_dir": work,
        "binds": binds,
        "env": {**env, "DOJO_DEVICE_REPORT": str(work / "device.json")},
        "limits": sandbox.SandboxLimits(
            wall_seconds=args.wall,
            cpu_seconds=args.wall * 8,
            memory_bytes=args.memory_gib * 2**30,
            max_processes=1024,
        ),
        "devices": place.devices,
        "uid": place.uid,
    }


def _slot_stream(plan, slot: int, root: Path, args, *, gpu: bool, warm: bool) -> list:
    """Run ``args.waves`` jobs one after another in one slot, as a worker does.

    Warm: each job takes the slot's spare, and the next spare starts as soon as
    the job is handed over (it warms while the job trains). The first spare is
    started before the clock, as a worker starts it when it boots.
    """

    def fresh(wave: int) -> Path:
        return _work_dir(root, f"{'w' if warm else 'c'}-{slot}-{wave}", JOB)

    prelude = sandbox.CUDA_PRELUDE.get(args.backend, "") if gpu else ""

    def argv(work: Path) -> list[str]:
        return sandbox.runner_argv(str(work / "job.py"))

    def spare_for(work: Path) -> sandbox.Spare:
        return sandbox.Spare(
            argv(work), **_plan_job(plan, slot, work, args, gpu=gpu), prelude=prelude
        )

    outcomes = []
    works = [fresh(w) for w in range(args.waves)]
    spare = spare_for(works[0]) if warm else None
    _STARTED.wait()
    for wave, work in enumerate(works):
        if spare is not None:
            current = spare
            spare = spare_for(works[wave + 1]) if wave + 1 < len(works) else None
            result = current.run()
        else:
            result = sandbox.run(
                argv(work), **_plan_job(plan, slot, work, args, gpu=gpu)
            )
        outcomes.append(str(result.outcome))
        sandbox.remove_tree(work)
    return outcomes


_STARTED = __import__("threading").Event()


def _warm_vs_cold(plan, k: int, root: Path, args, *, gpu: bool) -> dict:
    """Jobs/hour of K slots running ``waves`` jobs each, cold then warm."""
    row = {}
    for warm in (False, True):
        _STARTED.clear()
        with ThreadPoolExecutor(max_workers=k) as pool:
            futures = [
                pool.submit(_slot_stream, plan, i, root, args, gpu=gpu, warm=warm)
                for i in range(k)
            ]
            # Let every slot start its first spare before the clock starts.
            time.sleep(args.spare_head_start if warm else 0)
            start = time.monotonic()
            _STARTED.set()
            outcomes = [o for f in futures for o in f.result()]
        elapsed = time.monotonic() - start
        row["warm" if warm else "cold"] = {
            "per_hour": round(_per_hour(len(outcomes), elapsed)),
            "failed": sum(o != "ok" for o in outcomes),
        }
    row["ratio"] = round(row["warm"]["per_hour"] / max(row["cold"]["per_hour"], 1), 3)
    return row


def _bare(slot: int, work: Path, args, *, gpu: bool) -> dict:
    env = {**os.environ, **_job_env(args)}
    for key in [k for k in env if k.startswith("CUDA_MPS_")]:
        del env[key]
    if gpu:
        env["CUDA_VISIBLE_DEVICES"] = str(args.device)
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(work / "job.py")],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=args.wall,
    )
    return {
        "slot": slot,
        "outcome": "ok" if done.returncode == 0 else f"exit {done.returncode}",
        "wall_s": round(time.monotonic() - start, 1),
        "tail": (done.stdout + done.stderr).strip()[-300:] if done.returncode else "",
    }


def _batch(k: int, root: Path, run_one, code: str = JOB) -> tuple[float, list]:
    works = [_work_dir(root, f"job-{i}", code) for i in range(k)]
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=k) as pool:
        results = list(pool.map(run_one, range(k), works))
    elapsed = time.monotonic() - start
    for work in works:
        sandbox.remove_tree(work)
    return elapsed, results


def _per_hour(k: int, elapsed: float) -> float:
    return k / elapsed * 3600


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", type=int, default=0)
    parser.add_argument("--slots", default="1,8,16")
    parser.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "torch"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--memory-gib", type=int, default=8)
    parser.add_argument("--wall", type=int, default=1800)
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--warm-slots", default="16", help="K for cold vs warm (spares); '' skips"
    )
    parser.add_argument("--waves", type=int, default=2, help="jobs per slot, warm")
    parser.add_argument("--spare-head-start", type=float, default=60.0)
    parser.add_argument("--jax-cache", type=Path, help="read-only JAX cache folder")
    parser.add_argument("--no-hog", action="store_true", help="skip the hog run")
    parser.add_argument(
        "--quick", action="store_true", help="the CPU smoke test, even on a GPU host"
    )
    args = parser.parse_args()
    gpu = Path(f"/dev/nvidia{args.device}").exists() and not args.quick
    if args.quick:
        print("Quick: a CPU smoke test of the same code only.")
        args.slots, args.samples, args.epochs, args.memory_gib = "1,2", 500, 1, 2
        args.warm_slots, args.spare_head_start = "2", 20.0
        args.backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    elif not gpu:
        print(f"No /dev/nvidia{args.device}: a CPU smoke test of the same code only.")
        args.slots, args.samples, args.epochs, args.memory_gib = "1,2", 2000, 1, 2
        args.warm_slots, args.spare_head_start = "2", 20.0
        args.backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    slots = [int(s) for s in args.slots.split(",") if s]
    warm_slots = [int(s) for s in args.warm_slots.split(",") if s]
    plan = sandbox.host_prepare(
        gpu_device=args.device if gpu else -1,
        slots=max(slots + warm_slots),
        keras_backend=args.backend,
        gpu_memory_mb=None,
    )
    print("Placement:", plan.describe())
    for notice in plan.notices:
        print("Notice:", notice)
    figures: dict = {"placement": plan.describe(), "backend": args.backend, "k": {}}
    root = Path(tempfile.mkdtemp(prefix="dojo-bench-gpu-", dir="/tmp"))
    root.chmod(0o755)
    try:
        print(f"{'K':>3} {'sandboxed/h':>12} {'bare/h':>9} {'ratio':>6} failed on-cpu")
        for k in slots:
            s_time, s_results = _batch(
                k, root, lambda i, w: _sandboxed(plan, i, w, args, gpu=gpu)
            )
            b_time, b_results = _batch(k, root, lambda i, w: _bare(i, w, args, gpu=gpu))
            failed = [r for r in s_results if r["outcome"] != "ok"]
            on_cpu = [r for r in s_results if gpu and r["on_gpu"] is not True]
            row = {
                "sandboxed_per_hour": round(_per_hour(k, s_time)),
                "bare_per_hour": round(_per_hour(k, b_time)),
                "ratio": round(b_time / s_time, 3),
                "failed": len(failed),
                "bare_failed": sum(r["outcome"] != "ok" for r in b_results),
                "on_cpu": len(on_cpu),
                "sandboxed": s_results,
                "bare": b_results,
            }
            figures["k"][k] = row
            print(
                f"{k:>3} {row['sandboxed_per_hour']:>12} {row['bare_per_hour']:>9} "
                f"{row['ratio']:>6} {row['failed']:>6} {row['on_cpu']:>6}"
            )
            for r in failed:
                print("   failed:", r)
        for k in warm_slots:
            row = _warm_vs_cold(plan, k, root, args, gpu=gpu)
            figures.setdefault("warm", {})[k] = row
            print(
                f"{k:>3} slots x {args.waves} jobs: cold {row['cold']['per_hour']}/h, "
                f"warm (spares) {row['warm']['per_hour']}/h, ratio {row['ratio']} "
                f"(failed cold {row['cold']['failed']}, warm {row['warm']['failed']}; "
                "target 2,500/h per card warm)"
            )
        if args.no_hog:
            if args.out:
                args.out.write_text(json.dumps(figures, indent=1, default=str))
            return 0
        normal = 7 if gpu else 1
        codes = [HOG] + [JOB] * normal
        works = [_work_dir(root, f"hog-{i}", c) for i, c in enumerate(codes)]
        with ThreadPoolExecutor(max_workers=len(works)) as pool:
            results = list(
                pool.map(
                    lambda i, w: _sandboxed(plan, i, w, args, gpu=gpu),
                    range(len(works)),
                    works,
                )
            )
        for work in works:
            sandbox.remove_tree(work)
        hog, rest = results[0], results[1:]
        figures["hog"] = {"hog": hog, "normal": rest}
        ok = sum(r["outcome"] == "ok" for r in rest)
        print(f"Hog: {hog['outcome']} ({hog['tail'][-120:]!r})")
        print(f"Normal jobs beside the hog that finished: {ok} of {len(rest)}")
        top = figures["k"].get(16)
        if gpu and top:
            print("Targets at 16 slots:")
            print(f"  >= 1,500 jobs/h sandboxed: {top['sandboxed_per_hour']}")
            print(f"  >= 1.8 sandboxed (MPS) / bare (no MPS): {top['ratio']}")
        print("  failed normal jobs:", sum(r["failed"] for r in figures["k"].values()))
    finally:
        plan.close()
        sandbox.remove_tree(root)
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
