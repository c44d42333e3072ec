"""Benchmark a regrade: batch mode (one process) vs one process per model.

Make N stored DL101 models (half the MLP, half the CNN reference architecture,
each with its own random weights: grading cost does not depend on training),
then grade all N with ``python -m grader batch`` and a sample of them with one
``python -m grader evaluate`` process each, and extrapolate the per-process time
to all N and to 1,000 models. Both paths include TensorFlow's start-up, as in
production.

Then the grading-time cost of the contribution (ablation) checks, which issue
18 caps at 1.5x: seconds per CNN and transfer model with and without the
spec's "contribution" section, in one process as batch mode grades (shared
with bench/ablation_cost.py through bench/_grading_cost.py).

Usage: .venv/bin/python bench/regrade_batch.py [--models 200] [--sample 10]
       [--ablation-models 6] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# As the grader CLI does (grader/_cli.py): oneDNN kernels on every host.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from _grading_cost import ablation_costs, print_costs  # noqa: E402

from assignments.reference import reference_cnn  # noqa: E402


def build_architectures(
    keras: Any, *, shapes: dict[str, tuple[tuple[int, ...], int]]
) -> dict[str, Any]:
    """Return the MLP and CNN reference architectures for each spec's shapes.

    ``shapes`` maps a slug to (input shape, number of classes), read from that
    assignment's spec: the pack's data (Fashion-MNIST today) decides them.
    """
    layers = keras.layers
    (mlp_shape, mlp_classes), (cnn_shape, cnn_classes) = shapes["mlp"], shapes["cnn"]
    mlp = keras.Sequential(
        [
            keras.Input(shape=mlp_shape),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dense(mlp_classes, activation="softmax"),
        ]
    )
    cnn = reference_cnn(keras, input_shape=cnn_shape, classes=cnn_classes)
    return {"mlp": mlp, "cnn": cnn}


def spec_shapes(spec_dir: Path) -> dict[str, tuple[tuple[int, ...], int]]:
    """Read each assignment's input shape and class count from its spec."""
    shapes = {}
    for slug in ("mlp", "cnn"):
        checks = json.loads((spec_dir / slug / "spec.json").read_text())["checks"]
        shapes[slug] = (tuple(checks["input_shape"]), int(checks["num_classes"]))
    return shapes


def make_models(
    root: Path, count: int, *, shapes: dict[str, tuple[tuple[int, ...], int]]
) -> list[tuple[str, Path]]:
    """Save ``count`` models with random weights; return (slug, path) pairs."""
    import keras

    rng = np.random.default_rng(0)
    models = build_architectures(keras, shapes=shapes)
    made = []
    for index in range(count):
        slug = "mlp" if index % 2 == 0 else "cnn"
        model = models[slug]
        model.set_weights(
            [rng.normal(0, 0.1, w.shape).astype("float32") for w in model.get_weights()]
        )
        path = root / f"{slug}-{index:04d}.keras"
        model.save(path)
        made.append((slug, path))
    return made


def run_grader(args: list[str]) -> float:
    """Run ``python -m grader`` with only the repo on PYTHONPATH; return seconds."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "grader", *args],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--sample", type=int, default=10)
    parser.add_argument("--ablation-models", type=int, default=6)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a few seconds: 8 models, 2 per-process runs, 50 test images a class; "
        "ablation cost on 2 models a kind and 500 + 500 images",
    )
    args = parser.parse_args()
    test_per_class, per_half = None, 5000
    if args.quick:
        args.models, args.sample, test_per_class = 8, 2, 50
        args.ablation_models, per_half = 2, 500
    from assignments.datasets import materialize

    with tempfile.TemporaryDirectory(prefix="regrade-bench-") as tmp:
        root = Path(tmp)
        spec_dir = REPO / "assignments" / "dl101"
        dataset = json.loads((spec_dir / "mlp" / "spec.json").read_text())["dataset"]
        materialize(
            dataset, root / "data", train_per_class=1, test_per_class=test_per_class
        )
        shapes = spec_shapes(spec_dir)
        print(f"load now: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        start = time.perf_counter()
        models = make_models(root, args.models, shapes=shapes)
        print(f"made {len(models)} models in {time.perf_counter() - start:.1f} s")
        jobs = [
            {
                "id": path.stem,
                "model": str(path),
                "spec": str(spec_dir / slug / "spec.json"),
                "data": str(root / "data" / "test.npz"),
                "base": None,
            }
            for slug, path in models
        ]
        (root / "jobs.json").write_text(json.dumps(jobs))
        out = root / "reports.json"
        batch_args = ["batch", "--jobs", str(root / "jobs.json"), "--out", str(out)]
        batch_s = run_grader(batch_args)
        statuses = [r["status"] for r in json.loads(out.read_text())]
        assert statuses.count("graded") == len(models), set(statuses)
        cold_s = run_grader([*batch_args, "--no-reuse"])
        sample = jobs[: args.sample]
        per_s = sum(
            run_grader(
                [
                    "evaluate",
                    "--model",
                    j["model"],
                    "--spec",
                    j["spec"],
                    "--data",
                    j["data"],
                ]
            )
            for j in sample
        )
        per_model = per_s / len(sample)
    batch_rate = len(models) / batch_s
    cold_rate = len(models) / cold_s
    n, k = len(models), len(sample)
    print(f"batch:        {n} models in {batch_s:.1f} s = {batch_rate:.1f} models/s")
    print(
        f"batch, cold:  {n} models in {cold_s:.1f} s = {cold_rate:.1f} models/s "
        "(--no-reuse: every model deserialized from scratch)"
    )
    print(
        f"per-process:  {k} models in {per_s:.1f} s = {1 / per_model:.2f} models/s "
        f"(measured on {k}, extrapolated to {n}: {per_model * n:.0f} s)"
    )
    print(
        f"speed-up:     {per_model * n / batch_s:.1f}x "
        f"(cold {per_model * n / cold_s:.1f}x)"
    )
    thousand = (1000 / batch_rate, 1000 / cold_rate, per_model * 1000)
    print(
        "1,000 models: batch ~{:.0f} s, cold ~{:.0f} s, per-process ~{:.0f} s "
        "(linear extrapolation; batch figures include one TensorFlow start)".format(
            *thousand
        )
    )
    print(
        f"\ncontribution checks: {args.ablation_models} models a kind, in one "
        f"process; hidden split {per_half} + {per_half} (transfer: half)"
    )
    with tempfile.TemporaryDirectory(prefix="regrade-ablation-") as tmp:
        costs = ablation_costs(
            Path(tmp),
            count=args.ablation_models,
            per_half=per_half,
            kinds=("cnn", "transfer"),
        )
    print_costs(costs)


if __name__ == "__main__":
    main()
