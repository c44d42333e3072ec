"""Command line used inside the evaluation sandbox; prints or writes JSON only.

Exit status: 0 whenever reports were produced (a failed model is a result, not a
crash); 2 for a setup fault (bad spec or test split); 1 for a grader crash.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from ._bounds import report_json
from ._errors import SetupError

EXIT_SETUP = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m grader")
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("evaluate", help="grade one model")
    one.add_argument("--model", required=True, type=Path)
    one.add_argument("--spec", required=True, type=Path)
    one.add_argument("--data", required=True, type=Path, help="hidden test.npz")
    one.add_argument("--base", type=Path, help="published base.keras (transfer)")
    one.add_argument("--out", type=Path, help="write the report here, not stdout")
    many = sub.add_parser("batch", help="grade many models in one process")
    many.add_argument("--jobs", required=True, type=Path, help="JSON list of jobs")
    many.add_argument("--out", type=Path)
    many.add_argument(
        "--progress",
        type=Path,
        help="write each report to DIR/<n>.json as soon as it is ready",
    )
    many.add_argument(
        "--touching",
        type=Path,
        help="write each model's id here just before the grader touches it",
    )
    many.add_argument(
        "--model-cache-mb",
        type=_positive_int,
        help="memory the reused models may hold, in MiB (a larger model is "
        "graded alone)",
    )
    many.add_argument(
        "--no-reuse",
        action="store_true",
        help="load every model from scratch (no architecture reuse)",
    )
    serve = sub.add_parser("serve", help="answer predictions from a folder")
    serve.add_argument("--dir", required=True, type=Path)
    serve.add_argument("--idle", type=float, default=600.0, help="seconds")
    serve.add_argument(
        "--request-memory-mb",
        type=_positive_int,
        help="memory one prediction may use, in MiB (past it, the model is refused)",
    )
    serve.add_argument(
        "--load-seconds",
        type=_positive_float,
        help="time one model's load may take (past it, the model is refused)",
    )
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be positive, not {value}")
    return value


def _emit(payload: Any, out: Path | None) -> None:
    text = report_json(payload)
    if out is None:
        sys.stdout.write(text + "\n")
    else:
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(text + "\n")
        os.replace(tmp, out)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SetupError(f"Cannot read {path}: {exc}") from exc


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit status."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # oneDNN's kernels, as in every Dojo sandbox: TensorFlow picks them itself
    # only on AVX-512/AMX CPUs, and they run the DL101 CNN 2.6x faster on AVX2.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    args = _parser().parse_args(argv)
    if args.command == "serve":
        from ._serve import serve

        budgets: dict[str, Any] = {}
        if args.request_memory_mb is not None:
            budgets["request_memory_bytes"] = args.request_memory_mb * 2**20
        if args.load_seconds is not None:
            budgets["load_seconds"] = args.load_seconds
        return serve(args.dir, idle=args.idle, **budgets)
    from ._batch import BatchItem, grade_batch
    from ._grade import grade
    from ._load import MODEL_CACHE_BYTES

    try:
        if args.command == "evaluate":
            report = grade(
                args.model, _read_json(args.spec), args.data, base_model_path=args.base
            )
            _emit(report.to_dict(), args.out)
            return 0
        jobs = _read_json(args.jobs)
        if not isinstance(jobs, list):
            raise SetupError("The jobs file must hold a JSON list.")
        specs: dict[str, Any] = {}
        items = []
        for job in jobs:
            spec_path = str(job["spec"])
            if spec_path not in specs:
                specs[spec_path] = _read_json(Path(spec_path))
            base = job.get("base")
            items.append(
                BatchItem(
                    id=str(job["id"]),
                    model=Path(job["model"]),
                    spec=specs[spec_path],
                    data=Path(job["data"]),
                    base=Path(base) if base else None,
                )
            )
        on_report = None
        if args.progress is not None:
            args.progress.mkdir(parents=True, exist_ok=True)
            done = iter(range(len(items)))

            def on_report(item: BatchItem, report: Any) -> None:
                path = args.progress / f"{next(done):06d}.json"
                _emit({"id": item.id, **report.to_dict()}, path)

        on_model = None
        if args.touching is not None:

            def on_model(item: BatchItem) -> None:
                _emit({"id": item.id}, args.touching)

        budget = args.model_cache_mb
        reports = grade_batch(
            items,
            reuse_models=not args.no_reuse,
            model_cache_bytes=MODEL_CACHE_BYTES if budget is None else budget * 2**20,
            on_report=on_report,
            on_model=on_model,
        )
        _emit(
            [{"id": i.id, **r.to_dict()} for i, r in zip(items, reports, strict=True)],
            args.out,
        )
        return 0
    except (SetupError, KeyError, TypeError) as exc:
        _emit({"status": "error", "reason": f"Grading setup error: {exc}"}, args.out)
        return EXIT_SETUP
