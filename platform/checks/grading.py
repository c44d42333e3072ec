"""The checking half of a check: the grader on the public sample, warm if it can.

Each check worker slot keeps one evaluator spare (`workers.evaluation.
evaluator_spare`: the grader and TensorFlow imported, the public sample's
folder fixed at start) for the data it checked against last; a check of other
data, or after the spare died, starts the grader cold. The evaluation sandbox
never runs participant code and never sees the private split.
"""

import logging
import os
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from checks.data import CheckData
from checks.models import CheckRun
from workers import evaluation, sandbox

logger = logging.getLogger(__name__)

# One per pool process (a Celery prefork child is one slot).
_pool = sandbox.SparePool(max_age=600.0)


def _name() -> str:
    """Return this process's evaluation folder name (one check at a time)."""
    return f"check-eval-{os.getpid()}"


def _folders(data: CheckData) -> list[str]:
    folders = [str(data.public_sample.parent)]
    if (data.train_dir / "base.keras").is_file():
        folders.append(str(data.train_dir))
    return folders


def _key(data: CheckData) -> str:
    return "|".join(
        [
            *_folders(data),
            str(settings.DOJO_CHECK_EVAL_SECONDS),
            str(settings.DOJO_EVAL_MEMORY_MB),
        ]
    )


def check_grade(
    *,
    check: CheckRun,
    data: CheckData,
    model: Path,
    env: dict[str, str],
    should_cancel: Callable[[], bool],
) -> evaluation.EvaluationOutcome:
    """Grade the check's model on the public sample only."""
    assignment = check.assignment
    base = data.train_dir / "base.keras"
    spare = _pool.take(_key(data)) if settings.DOJO_CHECK_SPARES else None
    return evaluation.evaluate_many(
        [
            {
                "id": "check",
                "model": str(model),
                "spec": {**assignment.spec, "version": assignment.spec_version},
                "data": str(data.public_sample),
                "base": str(base) if base.is_file() else None,
            }
        ],
        work_root=Path(settings.DOJO_WORK_ROOT),
        name=_name(),
        backend=settings.DOJO_SANDBOX_BACKEND,
        env=env,
        wall_seconds=settings.DOJO_CHECK_EVAL_SECONDS,
        memory_bytes=settings.DOJO_EVAL_MEMORY_MB * 1024 * 1024,
        should_cancel=should_cancel,
        spare=spare,
        spare_folders=_folders(data) if spare is not None else (),
    )


def check_grader_refill(*, data: CheckData, env: dict[str, str]) -> None:
    """Start this slot's evaluator spare for the data just checked against."""
    if not settings.DOJO_CHECK_SPARES:
        return
    key = _key(data)

    def start() -> sandbox.Spare:
        return evaluation.evaluator_spare(
            work_root=Path(settings.DOJO_WORK_ROOT),
            name=_name(),
            data_folders=_folders(data),
            backend=settings.DOJO_SANDBOX_BACKEND,
            env=env,
            wall_seconds=settings.DOJO_CHECK_EVAL_SECONDS,
            memory_bytes=settings.DOJO_EVAL_MEMORY_MB * 1024 * 1024,
            key=key,
        )

    try:
        _pool.refill(key, start)
    except Exception:  # a spare is an optimisation: never fail a check for it
        logger.exception("Could not start a check's evaluator spare")
