"""Where and how any job's sandbox runs: its environment, limits, slot and uid.

Every kind places its sandboxes here (trainings, evaluations, regrade chunks,
check runs, the predictor); what a kind records of the place (a run's slot and
isolation) and how it beats are its own.
"""

import math
from pathlib import Path

from django.conf import settings

from jobs.heartbeat import Heartbeat
from jobs.queues import TASK_SOFT_TIME_LIMIT_SECONDS
from workers import jobspec, sandbox
from workers.evaluation_each import round_wall_seconds
from workers.predictor import predictor_load_check, predictor_memory_check
from workshops.models import Assignment


def job_runners_only(*, queue: str) -> bool:
    """Say whether only runner hosts (no site worker) serve `queue`."""
    return queue in settings.DOJO_RUNNER_QUEUES


def sandbox_config_from_settings() -> sandbox.SandboxConfig:
    """Build and install the sandbox's configuration from the settings (at start)."""
    return sandbox.sandbox_configure(
        sandbox.SandboxConfig.parse(
            uid=settings.DOJO_SANDBOX_UID,
            cgroup=settings.DOJO_CGROUP,
            nproc=settings.DOJO_SANDBOX_NPROC,
            cpu_weight=settings.DOJO_JOB_CPU_WEIGHT,
        )
    )


def sandbox_cpus_from_settings() -> float:
    """Return the cores one job's sandbox may use at once, checked (at start)."""
    cpus = settings.DOJO_SANDBOX_CPUS
    if isinstance(cpus, bool) or not isinstance(cpus, int | float):
        raise ValueError(f"must be a number of cores, not {cpus!r}")
    if not math.isfinite(cpus) or cpus < 0:
        raise ValueError(f"must be 0 (no quota) or a positive number, not {cpus!r}")
    return float(cpus)


def predictor_memory_from_settings() -> dict[str, int]:
    """Return the predictor's memory and one request's budget, checked (at start)."""
    memory = {
        "memory_bytes": settings.DOJO_PREDICT_MEMORY_MB * 1024 * 1024,
        "request_memory_bytes": settings.DOJO_PREDICT_REQUEST_MEMORY_MB * 1024 * 1024,
    }
    predictor_memory_check(**memory)
    return memory


def predictor_load_from_settings() -> float:
    """Return the time one model's load may take, checked (at start)."""
    predictor_load_check(
        load_seconds=settings.DOJO_PREDICT_LOAD_SECONDS,
        timeout_seconds=settings.DOJO_PREDICT_TIMEOUT_SECONDS,
    )
    return settings.DOJO_PREDICT_LOAD_SECONDS


# TensorFlow's oneDNN kernels, asked for by every sandbox (`workers.jobspec`).
TF_KERNELS_ENV = jobspec.TF_KERNELS_ENV


def sandbox_env() -> dict[str, str]:
    """Return the environment every sandboxed job starts from."""
    return jobspec.job_env(keras_backend=settings.DOJO_KERAS_BACKEND)


# A regrade chunk grades at most this many models in one evaluation sandbox.
CHUNK_MAX_MODELS = 100
# What a regrade chunk's task keeps of its soft time limit for itself: claiming,
# applying each verdict, leaving the next warm evaluator.
CHUNK_MARGIN_SECONDS = 300


def evaluation_sandbox(*, wall_seconds: int | None = None) -> dict:
    """Return the arguments of every evaluation sandbox (and evaluator spare).

    ``wall_seconds``: the kind's time, if not ``DOJO_EVAL_WALL_SECONDS`` (a
    check's grading: ``DOJO_CHECK_EVAL_SECONDS``). The grader's model cache
    gets ``DOJO_EVAL_MODEL_CACHE_MB``, at most a quarter of the sandbox's
    memory: the rest is TensorFlow's, the hidden split's and the model being
    graded.
    """
    memory_mb = settings.DOJO_EVAL_MEMORY_MB
    return {
        "work_root": Path(settings.DOJO_WORK_ROOT),
        "backend": settings.DOJO_SANDBOX_BACKEND,
        "env": sandbox_env(),
        "wall_seconds": settings.DOJO_EVAL_WALL_SECONDS
        if wall_seconds is None
        else wall_seconds,
        "memory_bytes": memory_mb * 1024 * 1024,
        "cpus": sandbox_cpus_from_settings(),
        "model_cache_bytes": min(settings.DOJO_EVAL_MODEL_CACHE_MB, memory_mb // 4)
        * 1024
        * 1024,
    }


def chunk_wall_seconds(*, models: int) -> int:
    """Return a regrade chunk's wall budget: the grader's start and each model's."""
    return round_wall_seconds(
        startup_seconds=settings.DOJO_EVAL_WALL_SECONDS,
        seconds_per_model=settings.DOJO_EVAL_MODEL_SECONDS,
        models=models,
    )


def chunk_max_models() -> int:
    """Return how many models a regrade chunk may hold.

    As many as ``CHUNK_MAX_MODELS`` whose wall budget (``chunk_wall_seconds``,
    of which the CPU limit is a multiple) ends ``CHUNK_MARGIN_SECONDS`` before
    the task's soft time limit; at least one.
    """
    room = TASK_SOFT_TIME_LIMIT_SECONDS - CHUNK_MARGIN_SECONDS
    fits = int(
        (room - chunk_wall_seconds(models=0)) // settings.DOJO_EVAL_MODEL_SECONDS
    )
    return max(1, min(CHUNK_MAX_MODELS, fits))


def evaluation_folders(*, inputs: dict) -> list[str]:
    """Return the host folders an evaluation of ``inputs`` reads (split, base)."""
    folders = [str(Path(inputs["data"]).parent)]
    return folders + ([str(Path(inputs["base"]).parent)] if inputs["base"] else [])


def training_sandbox(
    *, kind: str, job: Path, work: Path, data: Path, limits: sandbox.SandboxLimits
) -> dict:
    """Return what a training job of ``kind`` runs and sees, given its two folders.

    A submission's training (``train``) and a check's (``check``) alike: the
    script in ``job`` (bound as /job), ``data`` as /data, ``work`` its work
    dir with ``output`` for what it gives back; the environment every sandbox
    starts from, and what a job of its kind is told of itself
    (``workers.jobspec.KIND_ENV``). The arguments of ``job_sandbox_args`` and
    ``job_sandbox_run``.
    """
    return {
        "argv": sandbox.runner_argv("/job/submission.py"),
        "work": work,
        "binds": [sandbox.Bind(job, "/job"), sandbox.Bind(data, "/data")],
        "env": {
            **sandbox_env(),
            "DOJO_DATA_DIR": "/data",
            "DOJO_OUTPUT_DIR": str(work / "output"),
            "DOJO_DEVICE_REPORT": str(work / "device.json"),
            **jobspec.KIND_ENV.get(kind, {}),
        },
        "limits": limits,
    }


def sandbox_limits(*, assignment: Assignment) -> sandbox.SandboxLimits:
    """Return the assignment's limits for one training job."""
    return sandbox.SandboxLimits(
        wall_seconds=assignment.wall_seconds,
        cpu_seconds=assignment.cpu_seconds,
        memory_bytes=assignment.memory_mb * 1024 * 1024,
        cpus=sandbox_cpus_from_settings(),
    )


def _slot() -> int:
    """Return this pool process's slot (Celery's child index)."""
    from billiard.process import current_process

    return getattr(current_process(), "index", 0) or 0


def _placement() -> sandbox.HostPlan:
    """Return the plan the worker made at start (or, outside a worker, make one)."""
    return sandbox.current_host_plan() or sandbox.host_prepare(
        backend=settings.DOJO_SANDBOX_BACKEND,
        gpu_device=settings.DOJO_GPU_DEVICE,
        slots=settings.DOJO_GPU_SLOTS,
        keras_backend=settings.DOJO_KERAS_BACKEND,
        uid_base=settings.DOJO_SANDBOX_UID,
        probe=False,
    )


def job_place(*, gpu: bool) -> sandbox.JobPlace:
    """Return this pool process's place (slot, uid, devices) in the host plan."""
    return _placement().place(_slot(), gpu=gpu)


def job_place_describe(*, gpu: bool, spare: bool) -> tuple[int, str]:
    """Return this pool process's slot and how its sandbox is isolated.

    What a kind records on its row of where the job ran (a run's ``slot`` and
    ``isolation``, shown on the hosts page).
    """
    plan = _placement()
    isolation = ("warm spare; " if spare else "") + plan.describe()
    return plan.place(_slot(), gpu=gpu).slot, isolation[:200]


def job_sandbox_args(
    *,
    gpu: bool,
    argv: list[str],
    work: Path,
    binds: list[sandbox.Bind],
    env: dict[str, str],
    limits: sandbox.SandboxLimits,
) -> tuple[list[str], dict]:
    """Return argv and the sandbox arguments of one job in this process's slot.

    The worker's host plan gives the slot its uid, and on a GPU queue (``gpu``)
    its device nodes, MPS pipe and GPU memory share.
    """
    place = job_place(gpu=gpu)
    return argv, {
        "work_dir": work,
        "binds": [*binds, *place.binds],
        "env": {**env, **place.env},
        "limits": limits,
        "backend": settings.DOJO_SANDBOX_BACKEND,
        "devices": place.devices,
        "chdir": str(work),
        "uid": place.uid,
    }


def job_sandbox_run(
    *,
    heartbeat: Heartbeat,
    gpu: bool,
    argv: list[str],
    work: Path,
    binds: list[sandbox.Bind],
    env: dict[str, str],
    limits: sandbox.SandboxLimits,
    spare: sandbox.Spare | None = None,
) -> sandbox.SandboxResult:
    """Run one job's command in the sandbox, in this process's slot, beating.

    ``heartbeat``: the kind's (it streams the log and notices a cancel).
    ``spare``: the slot's spare, started with these very arguments (see
    ``spares``); the job is handed to it instead of starting a sandbox. A
    spare that died while waiting raises ``sandbox.SandboxError`` and takes
    its folders with it; the kind decides: a submission's training ends as
    the platform's fault, a check runs cold in fresh folders
    (``checks.training``).
    """
    watch = {
        "on_log": heartbeat.on_log,
        "log_interval": settings.DOJO_LOG_FLUSH_SECONDS,
        "should_cancel": heartbeat.should_cancel,
    }
    if spare is not None:
        return spare.run(**watch)
    argv, kwargs = job_sandbox_args(
        gpu=gpu, argv=argv, work=work, binds=binds, env=env, limits=limits
    )
    return sandbox.run(argv, **kwargs, **watch)
