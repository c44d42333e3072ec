"""Grading time per model with vs without the contribution (ablation) checks.

Grades the DL101 CNN and transfer architectures (random weights: grading cost
does not depend on training) on a hidden split of Fashion-MNIST's size (5,000
public + 5,000 private images of 28 x 28; random pixels), in one process with
the split and base cached as batch mode does, once with the pack's spec and
once with its "contribution" section removed. Prints seconds per model and
the ratio (target: at most 1.5). bench/regrade_batch.py prints the same table
after its batch figures (the code is shared in bench/_grading_cost.py).

Usage: .venv/bin/python bench/ablation_cost.py [--quick] [--models 6]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# As the grader CLI does (grader/_cli.py): oneDNN kernels on every host.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from _grading_cost import ablation_costs, print_costs  # noqa: E402


def main() -> None:
    """Print per-model grading time with and without ablation, and the ratio."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--models", type=int, default=6)
    args = parser.parse_args()
    count = 2 if args.quick else args.models
    per_half = 500 if args.quick else 5000
    print(f"{count} models of each kind; hidden split {per_half} + {per_half}")
    with tempfile.TemporaryDirectory() as tmp:
        costs = ablation_costs(
            Path(tmp), count=count, per_half=per_half, kinds=("cnn", "transfer")
        )
    print_costs(costs)


if __name__ == "__main__":
    main()
