"""The training half of a check: the sandbox, its limits, and a warm spare.

Each check worker slot keeps one spare sandbox for the assignment it checked
last (`workers.sandbox.Spare`: every limit applied, Keras already imported,
waiting on its stdin for exactly one job). The next check of that assignment
in the slot runs in it and skips the seconds of TensorFlow's start; any other
check runs cold, as does every check when the spare died or aged. When a spare
may start and how old it may get: ``spare_policy``. The spare is planned exactly
like the cold job (same binds, environment, uid and limits), so what the code
can see does not depend on which one it got.
"""

import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from checks.data import CheckData
from checks.models import CheckRun
from jobs.placement import job_place, sandbox_cpus_from_settings
from jobs.queues import JobQueue
from jobs.spare_policy import SpareKind, spare_refill, spare_take
from jobs.spec import job_spec_build
from workers import sandbox
from workers.jobspec import KIND_ENV, JobSpec, job_result_from_sandbox
from workshops import folders

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Trained:
    """How the training sandbox ended, where its work folder is, and if warm."""

    result: sandbox.SandboxResult
    folder: Path
    output: Path
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


def _folder(name: str) -> Path:
    """Make a work folder: job/ (bound as /job), run/ (the work dir), run/output."""
    folder = folders.work_dir(name)
    (folder / "job").mkdir()
    (folder / "run" / "output").mkdir(parents=True)
    return folder


def _key(
    *,
    check: CheckRun,
    data: CheckData,
    limits: sandbox.SandboxLimits,
    place: sandbox.JobPlace,
    env: dict[str, str],
) -> str:
    """Return what a spare must have been planned with to run this check."""
    return "|".join(
        [
            str(check.assignment_id),
            str(data.train_dir),
            repr(limits),
            str(place.uid),
            repr(sorted(place.env.items())),
            repr(sorted(env.items())),
        ]
    )


def _plan(
    *,
    folder: Path,
    data: CheckData,
    limits: sandbox.SandboxLimits,
    place: sandbox.JobPlace,
    env: dict[str, str],
) -> dict:
    run_dir = folder / "run"
    return {
        "work_dir": run_dir,
        "binds": [
            sandbox.Bind(folder / "job", "/job"),
            sandbox.Bind(data.train_dir, "/data"),
            *place.binds,
        ],
        "env": {
            **env,
            "DOJO_DATA_DIR": "/data",
            "DOJO_OUTPUT_DIR": str(run_dir / "output"),
            "DOJO_DEVICE_REPORT": str(run_dir / "device.json"),
            **KIND_ENV["check"],
            **place.env,
        },
        "limits": limits,
        "backend": settings.DOJO_SANDBOX_BACKEND,
        "devices": place.devices,
        "chdir": str(run_dir),
        "uid": place.uid,
    }


def check_train(
    *,
    check: CheckRun,
    data: CheckData,
    env: dict[str, str],
    on_log: Callable[[str], None],
    should_cancel: Callable[[], bool],
) -> Trained:
    """Run the check's source in the training sandbox, warm when a spare fits.

    The job is built as a spec (`jobs.spec`) and runs with the spec's limits;
    the sandbox's ending is read back through the spec's validated result.
    """
    spec = check_training_spec(check=check, data=data)
    limits = spec.sandbox_limits()
    place = job_place(gpu=False)
    argv = sandbox.runner_argv("/job/submission.py")
    key = _key(check=check, data=data, limits=limits, place=place, env=env)
    watch = {
        "on_log": on_log,
        "log_interval": settings.DOJO_LOG_FLUSH_SECONDS,
        "should_cancel": should_cancel,
    }
    spare = spare_take(kind=SpareKind.CHECK_TRAIN, key=key)
    result, warm = None, False
    if spare is not None:
        folder = spare.work_dir.parent
        (folder / "job" / "submission.py").write_text(check.source, encoding="utf-8")
        try:
            result, warm = spare.run(**watch), True
        except sandbox.SandboxError:
            logger.warning("The check spare died while waiting; running cold")
            folders.discard(folder)
    if result is None:
        folder = _folder(f"check-{check.pk}")
        (folder / "job" / "submission.py").write_text(check.source, encoding="utf-8")
        plan = _plan(folder=folder, data=data, limits=limits, place=place, env=env)
        result = sandbox.run(argv, **plan, **watch)
    job_result_from_sandbox(spec=spec, result=result)
    return Trained(
        result=result,
        folder=folder,
        output=folder / "run" / "output",
        limits=limits,
        warm=warm,
    )


def check_training_spec(*, check: CheckRun, data: CheckData) -> JobSpec:
    """Return a check's training as a job spec: its source, the check slice.

    The same spec runs here (`check_train`) and on a runner host.
    """
    return job_spec_build(
        kind="check",
        job_id=f"check:{check.pk}",
        script=check.source,
        data={"train": (data.train_dir, "/data")},
        limits=check_limits(check=check),
        returns=("model.keras",),
    )


def check_spare_refill(
    *, check: CheckRun, data: CheckData, env: dict[str, str]
) -> None:
    """Start this slot's spare for the assignment just checked, if nothing waits."""
    limits = check_limits(check=check)
    place = job_place(gpu=False)
    key = _key(check=check, data=data, limits=limits, place=place, env=env)

    def start() -> sandbox.Spare:
        folder = _folder(f"check-spare-{os.getpid()}-{uuid.uuid4().hex[:12]}")
        plan = _plan(folder=folder, data=data, limits=limits, place=place, env=env)
        return sandbox.Spare(
            sandbox.runner_argv("/job/submission.py"),
            **plan,
            key=key,
            owned=(folder,),
        )

    spare_refill(kind=SpareKind.CHECK_TRAIN, key=key, start=start, queue=JobQueue.CHECK)
