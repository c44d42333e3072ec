"""The checking half of a check: the grader on the public sample, warm if it can.

Each check worker slot keeps one evaluator spare (`workers.evaluation.
evaluator_spare`: the grader and TensorFlow imported, the public sample's
folder fixed at start) for the data it checked against last; a check of other
data, or after the spare died, starts the grader cold. When a spare may
start and how old it may get: ``spare_policy``. The evaluation sandbox
never runs participant code and never sees the private split.

The grading is built as a job spec (`jobs.spec.evaluation_spec_build`) of kind
"evaluate" whose result goes to the check ("check:7"): the check's own kind,
"check", is its training, which runs participant code and may run on a runner
host; this sandbox runs only the grader, on the site. It runs within the
spec's limits and its ending is read back through the spec: a refused one
ends the check as the platform's fault (`checks.execution`).
"""

import os
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from checks.data import CheckData
from checks.models import CheckRun
from jobs.placement import sandbox_cpus_from_settings
from jobs.queues import JobQueue
from jobs.spare_policy import SpareKind, spare_refill, spare_take
from jobs.spec import evaluation_spec_build
from workers import evaluation, sandbox


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
    jobs = [
        {
            "id": "check",
            "model": str(model),
            "spec": {**assignment.spec, "version": assignment.spec_version},
            "data": str(data.public_sample),
            "base": str(base) if base.is_file() else None,
        }
    ]
    wall = settings.DOJO_CHECK_EVAL_SECONDS
    memory = settings.DOJO_EVAL_MEMORY_MB * 1024 * 1024
    cpus = sandbox_cpus_from_settings()
    spec = evaluation_spec_build(
        kind="evaluate",
        job_id=f"check:{check.pk}",
        jobs=jobs,
        split="public",
        limits=evaluation.grader_limits(wall, memory, cpus),
    )
    spare = spare_take(kind=SpareKind.CHECK_GRADE, key=_key(data))
    return evaluation.evaluate_many(
        jobs,
        work_root=Path(settings.DOJO_WORK_ROOT),
        name=_name(),
        backend=settings.DOJO_SANDBOX_BACKEND,
        env=env,
        wall_seconds=wall,
        memory_bytes=memory,
        cpus=cpus,
        should_cancel=should_cancel,
        spare=spare,
        spare_folders=_folders(data) if spare is not None else (),
        spec=spec,
    )


def check_grader_refill(*, data: CheckData, env: dict[str, str]) -> None:
    """Start this slot's evaluator spare for the data checked, if nothing waits."""
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
            cpus=sandbox_cpus_from_settings(),
            key=key,
        )

    spare_refill(kind=SpareKind.CHECK_GRADE, key=key, start=start, queue=JobQueue.CHECK)
