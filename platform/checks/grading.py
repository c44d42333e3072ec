"""The checking half of a check: the grader on the public sample, warm if it can.

A check's grading is an evaluation of the job package: the one evaluation
sandbox (`jobs.placement.evaluation_sandbox`, with the check's own time,
``DOJO_CHECK_EVAL_SECONDS``) and the one warm evaluator (`jobs.spares`, of
kind ``CHECK_GRADE``, on while ``DOJO_CHECK_SPARES``), for the data it checked
against last; a check of other data, or after the spare died, starts the
grader cold. When a spare may start and how old it may get:
``spare_policy``. The evaluation sandbox never runs participant code and
never sees the private split.

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
from jobs.placement import evaluation_folders, evaluation_sandbox
from jobs.queues import JobQueue
from jobs.spare_policy import SpareKind
from jobs.spares import (
    evaluation_spare_key,
    evaluation_spare_refill,
    evaluation_spare_take,
)
from jobs.spec import evaluation_spec_build
from workers import evaluation


def _grader() -> dict:
    """Return a check's evaluation sandbox: every one's, with the check's time."""
    return evaluation_sandbox(wall_seconds=settings.DOJO_CHECK_EVAL_SECONDS)


def _inputs(data: CheckData) -> dict:
    """Return what a check's grading reads: the public sample, the transfer base."""
    base = data.train_dir / "base.keras"
    return {
        "data": str(data.public_sample),
        "base": str(base) if base.is_file() else None,
    }


def check_grade(
    *,
    check: CheckRun,
    data: CheckData,
    model: Path,
    should_cancel: Callable[[], bool],
) -> evaluation.EvaluationOutcome:
    """Grade the check's model on the public sample only."""
    assignment = check.assignment
    inputs = _inputs(data)
    jobs = [
        {
            "id": "check",
            "model": str(model),
            "spec": {**assignment.spec, "version": assignment.spec_version},
            **inputs,
        }
    ]
    grader = _grader()
    folders = evaluation_folders(inputs=inputs)
    spec = evaluation_spec_build(
        kind="evaluate",
        job_id=f"check:{check.pk}",
        jobs=jobs,
        split="public",
        limits=evaluation.grader_limits(
            grader["wall_seconds"], grader["memory_bytes"], grader["cpus"]
        ),
    )
    spare = evaluation_spare_take(
        kind=SpareKind.CHECK_GRADE,
        key=evaluation_spare_key(folders=folders, kwargs=grader),
    )
    # One check at a time in a process: its evaluation folder's name.
    name = spare.work_dir.name if spare is not None else f"check-eval-{os.getpid()}"
    return evaluation.evaluate_many(
        jobs,
        name=name,
        should_cancel=should_cancel,
        spare=spare,
        spare_folders=folders,
        spec=spec,
        **grader,
    )


def check_grader_refill(*, data: CheckData) -> None:
    """Start this slot's evaluator spare for the data checked, if nothing waits."""
    grader = _grader()
    folders = evaluation_folders(inputs=_inputs(data))
    evaluation_spare_refill(
        key=evaluation_spare_key(folders=folders, kwargs=grader),
        folders=folders,
        grader=grader,
        kind=SpareKind.CHECK_GRADE,
        queue=JobQueue.CHECK,
    )
