"""The training half of a check: the sandbox, its limits, and a warm spare.

A check's training is a training job of the job package (`jobs.placement.
training_sandbox`, `job_sandbox_run` with the check's heartbeat, `CheckLog`)
on the check slice, of kind "check". Each check worker slot keeps one spare
sandbox of kind ``CHECK_TRAIN`` for the assignment it checked last
(`jobs.spares`: every limit applied, Keras already imported, waiting on its
stdin for exactly one job; on while ``DOJO_CHECK_SPARES``). The next check of
that assignment in the slot runs in it and skips the seconds of TensorFlow's
start; any other check runs cold, as does every check when the spare aged, or
died while waiting (unlike a submission's training, which then ends as the
platform's fault). When a spare may start and how old it may get:
``spare_policy``. The spare is planned exactly like the cold job (its key is
a digest of the sandbox's arguments and the slice's files), so what the code
can see does not depend on which one it got.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from checks.data import CheckData
from checks.models import CheckRun
from jobs.heartbeat import Heartbeat
from jobs.placement import (
    job_sandbox_args,
    job_sandbox_run,
    sandbox_cpus_from_settings,
    training_sandbox,
)
from jobs.queues import JobQueue
from jobs.spare_policy import SpareKind
from jobs.spares import (
    JobPlan,
    training_folders,
    training_spare_key,
    training_spare_refill,
    training_spare_take,
)
from jobs.spec import job_spec_build
from workers import sandbox
from workers.jobspec import JobSpec, job_result_from_sandbox
from workshops import folders

logger = logging.getLogger(__name__)

# The kind of job a check's training is (its spec's, what the job is told).
KIND = "check"


@dataclass(frozen=True)
class Trained:
    """How the training sandbox ended, its folders, where its model goes, if warm.

    ``model``: where the saved model is copied to, in the job folder (bound
    read-only: the check's code cannot have left anything there).
    """

    result: sandbox.SandboxResult
    folders: tuple[Path, ...]
    output: Path
    model: Path
    limits: sandbox.SandboxLimits
    warm: bool


def check_limits(*, check: CheckRun) -> sandbox.SandboxLimits:
    """Return a check's training limits: the assignment's, with less time."""
    assignment = check.assignment
    wall = min(assignment.wall_seconds, settings.DOJO_CHECK_WALL_SECONDS)
    return sandbox.SandboxLimits(
        wall_seconds=wall,
        cpu_seconds=min(assignment.cpu_seconds, wall * 4),
        memory_bytes=assignment.memory_mb * 1024 * 1024,
        cpus=sandbox_cpus_from_settings(),
        log_bytes=256 * 1024,
        output_bytes=16 * 1024 * 1024,
    )


def _plan(*, data: CheckData, limits: sandbox.SandboxLimits) -> JobPlan:
    """Return how a check's training runs, given its two folders."""

    def plan(job: Path, work: Path) -> tuple[list[str], dict]:
        return job_sandbox_args(gpu=False, **_args(job, work, data, limits))

    return plan


def _args(
    job: Path, work: Path, data: CheckData, limits: sandbox.SandboxLimits
) -> dict:
    return training_sandbox(
        kind=KIND, job=job, work=work, data=data.train_dir, limits=limits
    )


def check_train(*, check: CheckRun, data: CheckData, heartbeat: Heartbeat) -> Trained:
    """Run the check's source in the training sandbox, warm when a spare fits.

    The job is built as a spec (`jobs.spec`) and runs with the spec's limits;
    the sandbox's ending is read back through the spec's validated result.
    ``heartbeat``: the check's (`checks.execution.CheckLog`).
    """
    spec = check_training_spec(check=check, data=data)
    limits = spec.sandbox_limits()
    plan = _plan(data=data, limits=limits)
    spare = training_spare_take(
        kind=SpareKind.CHECK_TRAIN,
        key=training_spare_key(train=data.train_dir, plan=plan),
    )

    def run(spare: sandbox.Spare | None) -> tuple[Path, Path, sandbox.SandboxResult]:
        job, work = training_folders(spare=spare, name=f"check-{check.pk}")
        (job / "submission.py").write_text(check.source, encoding="utf-8")
        result = job_sandbox_run(
            heartbeat=heartbeat,
            gpu=False,
            **_args(job, work, data, limits),
            spare=spare,
        )
        return job, work, result

    if spare is not None:
        try:
            job, work, result = run(spare)
        except sandbox.SandboxError:
            # It died while waiting (its folders went with it): nobody is
            # charged, the check runs cold.
            logger.warning("The check spare died while waiting; running cold")
            for folder in spare.owned:
                folders.discard(folder)
            spare = None
    if spare is None:
        job, work, result = run(None)
    try:
        job_result_from_sandbox(spec=spec, result=result)
    except BaseException:
        folders.discard(job)
        folders.discard(work)
        raise
    return Trained(
        result=result,
        folders=(job, work),
        output=work / "output",
        model=job / "model.keras",
        limits=limits,
        warm=spare is not None,
    )


def check_training_spec(*, check: CheckRun, data: CheckData) -> JobSpec:
    """Return a check's training as a job spec: its source, the check slice.

    The same spec runs here (`check_train`) and on a runner host.
    """
    return job_spec_build(
        kind=KIND,
        job_id=f"check:{check.pk}",
        script=check.source,
        data={"train": (data.train_dir, "/data")},
        limits=check_limits(check=check),
        returns=("model.keras",),
    )


def check_spare_refill(*, check: CheckRun, data: CheckData) -> None:
    """Start this slot's spare for the assignment just checked, if nothing waits."""
    plan = _plan(data=data, limits=check_limits(check=check))
    training_spare_refill(
        key=training_spare_key(train=data.train_dir, plan=plan),
        plan=plan,
        queue=JobQueue.CHECK,
        kind=SpareKind.CHECK_TRAIN,
        name="check-spare",
    )
