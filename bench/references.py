"""Train and grade the three DL101 references on the full data, in the sandbox.

Each reference runs as participant code in a bwrap sandbox pinned to one CPU
core (one worker slot of a 2-core host), with its assignment's limits, and is
graded in an evaluation sandbox on the hidden t10k split. Prints, per
assignment, the wall time as a ratio of its wall limit, and the public and
private accuracy; then how far the CNN beats the MLP.
Usage: ``python bench/references.py [SLUG ...] [--core N] [--quick]``
(``--quick``: the MLP on a 100-image-a-class slice, the same code path).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assignments.datasets import materialize  # noqa: E402
from assignments.pack import load_pack  # noqa: E402
from assignments.transfer import build_base  # noqa: E402
from workers import sandbox  # noqa: E402
from workers.evaluation import evaluate_many  # noqa: E402

ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "KERAS_BACKEND": "tensorflow",
    "TF_ENABLE_ONEDNN_OPTS": "1",
}
DATA = ROOT / "var" / "bench" / "references"


def _prepare(item, folder: Path, per_class: int | None = None) -> None:
    materialize(
        item.spec["dataset"],
        folder,
        train_per_class=per_class,
        test_per_class=per_class and per_class // 2,
    )
    if item.kind == "transfer" and not (folder / "base.keras").is_file():
        start = time.monotonic()
        build_base(folder / "base.keras", dataset=item.spec["dataset"])
        print(f"transfer base built in {time.monotonic() - start:.0f} s")


def _run(item, data: Path, root: Path) -> tuple[sandbox.SandboxResult, Path]:
    job, work = root / f"{item.slug}-job", root / item.slug
    for path in (job, work):
        sandbox.remove_tree(path)
        path.mkdir(parents=True)
    shutil.copyfile(item.solution_path, job / "solution.py")
    (work / "output").mkdir()
    result = sandbox.run(
        ["python", "/job/solution.py"],
        work_dir=work,
        binds=[sandbox.Bind(job, "/job"), sandbox.Bind(data, "/data")],
        env={**ENV, "DOJO_DATA_DIR": "/data", "DOJO_OUTPUT_DIR": str(work / "output")},
        limits=sandbox.SandboxLimits(
            wall_seconds=item.limits.wall_seconds,
            cpu_seconds=item.limits.cpu_seconds,
            memory_bytes=item.limits.memory_mb * 1024 * 1024,
        ),
        chdir=str(work),
    )
    return result, work / "output" / "model.keras"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("slugs", nargs="*", default=["mlp", "cnn", "transfer"])
    parser.add_argument("--core", type=int, default=1, help="CPU core to pin to")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the MLP on 100 images a class: the same path in seconds",
    )
    args = parser.parse_args()
    per_class = 100 if args.quick else None
    if args.quick and args.slugs == ["mlp", "cnn", "transfer"]:
        args.slugs = ["mlp"]
    os.sched_setaffinity(0, {args.core})
    pack = load_pack(ROOT / "assignments" / "dl101")
    results = {}
    root = Path(tempfile.mkdtemp(prefix="dojo-refs-", dir="/tmp"))
    os.chmod(root, 0o755)
    try:
        for slug in args.slugs:
            item = pack.assignment(slug)
            data = DATA / (f"{slug}-quick" if args.quick else slug)
            _prepare(item, data, per_class)
            load = os.getloadavg()[0]
            result, model = _run(item, data, root)
            if result.outcome != sandbox.Outcome.OK:
                print(f"{slug}: {result.outcome}: {result.log[-1500:]}")
                return 1
            base = data / "base.keras"
            graded = evaluate_many(
                [
                    {
                        "id": slug,
                        "model": str(model),
                        "spec": item.spec,
                        "data": str(data / "test.npz"),
                        "base": str(base) if base.is_file() else None,
                    }
                ],
                work_root=root,
                name=f"eval-{slug}",
                backend="bwrap",
                env=ENV,
                wall_seconds=600,
            )
            report = graded.reports[slug]
            results[slug] = report
            limit = item.limits.wall_seconds
            print(
                f"{slug:9s} train {result.wall_seconds:6.1f} s = "
                f"{result.wall_seconds / limit:.2f} of the {limit} s wall limit "
                f"(cpu {result.cpu_seconds:.0f} s, peak "
                f"{(result.peak_memory_bytes or 0) / 2**20:.0f} MB, load {load:.1f})"
                f"  public {report['public_accuracy']:.4f}"
                f"  private {report['private_accuracy']:.4f}"
                f"  score {report['score']:.1f}  checks "
                f"{'pass' if all(c['passed'] for c in report['checks']) else 'FAIL'}"
            )
    finally:
        sandbox.remove_tree(root)
    if {"mlp", "cnn"} <= set(results):
        mlp, cnn = (results[s]["public_accuracy"] for s in ("mlp", "cnn"))
        print(
            f"CNN - MLP: {100 * (cnn - mlp):+.1f} points; errors "
            f"{1 - mlp:.1%} -> {1 - cnn:.1%} (ratio {(1 - cnn) / (1 - mlp):.2f})"
        )
    print(json.dumps({s: r["public_accuracy"] for s, r in results.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
