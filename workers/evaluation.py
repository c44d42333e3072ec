"""Grade trained models inside an evaluation sandbox (no Django here).

The sandbox holds the models, the hidden test split and the grader; it never holds
participant code. Many models are graded in one sandbox so TensorFlow starts once.

Given the job's spec (`workers.jobspec.JobSpec`, built by the site), a grader
runs within the spec's limits and its sandbox's ending is read back through the
spec's validated result before the reports left at its end are: a refused
ending (a log past the spec's limit, a malformed field) raises `JobSpecError`,
and the caller ends the job as the platform's fault. (A regrade chunk's
progress, each model's report as the grader writes it, is read while the
sandbox runs: `workers.evaluation_each`.)
"""

import json
import logging
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from grader import MODEL_CACHE_BYTES
from workers import outputs, sandbox
from workers.jobspec import JobSpec, job_result_from_sandbox

GRADER_DIR = Path(__file__).resolve().parents[1] / "grader"
logger = logging.getLogger(__name__)


def _discard(path: Path) -> None:
    """Remove a folder whatever it holds; the periodic sweeper retries failures."""
    try:
        sandbox.release_work_dir(path)
    except sandbox.CleanupError:
        logger.exception("Could not remove %s; the sweeper will retry", path)


@dataclass(frozen=True)
class EvaluationOutcome:
    result: sandbox.SandboxResult
    reports: dict[str, Mapping] = field(default_factory=dict)
    participant_fault: bool = False
    reason: str = ""


def _reason(result: sandbox.SandboxResult, *, touched: bool) -> tuple[bool, str]:
    """Say whose fault an evaluation sandbox that gave no report was.

    ``touched``: the grader had started loading or calling the model. A grader
    that dies from then on (a native crash in TensorFlow, say) died of the model.
    """
    if result.outcome in (sandbox.Outcome.KILLED_MEMORY, sandbox.Outcome.TIMED_OUT):
        return True, (
            "Grading your model ran out of "
            + ("memory" if result.outcome == sandbox.Outcome.KILLED_MEMORY else "time")
            + ". Make the model smaller (fewer or narrower layers) and submit again."
        )
    if touched:
        return True, died_on_model(result)
    tail = result.log.strip().splitlines()[-1:] or [str(result.outcome)]
    return False, f"the grader stopped: {tail[0][:200]}"


def died_on_model(result: sandbox.SandboxResult) -> str:
    """Return the reason given when the grader died while handling a model."""
    return (
        "The grader crashed while loading or running your model "
        f"({result.outcome}, exit {result.exit_code}). Build it from standard "
        "keras.layers, check that it predicts on a batch of training images, "
        "and save it again."
    )


def evaluate_many(
    jobs: Sequence[Mapping],
    *,
    work_root: Path,
    name: str,
    backend: str,
    env: Mapping[str, str],
    wall_seconds: int,
    memory_bytes: int = 4 * 1024**3,
    cpus: float = 0,
    model_cache_bytes: int = MODEL_CACHE_BYTES,
    on_log: Callable[[str], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    spare: sandbox.Spare | None = None,
    spare_folders: Sequence[str] = (),
    spec: JobSpec | None = None,
) -> EvaluationOutcome:
    """Grade each job's model ({id, model, spec, data, base}) in one sandbox.

    ``spare``: a warm evaluator from ``evaluator_spare``; ``spec``: the job's
    spec (see ``run_grader``).
    """
    result, reports, unreadable, touched = run_grader(
        jobs,
        work_root=work_root,
        name=name,
        backend=backend,
        env=env,
        wall_seconds=wall_seconds,
        memory_bytes=memory_bytes,
        cpus=cpus,
        model_cache_bytes=model_cache_bytes,
        on_log=on_log,
        should_cancel=should_cancel,
        spare=spare,
        spare_folders=spare_folders,
        spec=spec,
    )
    return evaluation_outcome(
        result, reports=reports, unreadable=unreadable, touched=touched
    )


def evaluation_outcome(
    result: sandbox.SandboxResult,
    *,
    reports: dict[str, Mapping],
    unreadable: str,
    touched: str | None,
) -> EvaluationOutcome:
    """Say how one evaluation sandbox ended: its reports, or whose fault it was.

    Once the grader touched the model (``touched``), what it wrote came from
    that model: an unreadable report is the participant's, like a crash.
    """
    if reports:
        return EvaluationOutcome(result=result, reports=reports)
    if unreadable and touched is not None:
        return EvaluationOutcome(
            result=result, participant_fault=True, reason=unreadable_report(unreadable)
        )
    if unreadable:
        return EvaluationOutcome(result=result, reason=unreadable)
    fault, reason = _reason(result, touched=touched is not None)
    return EvaluationOutcome(result=result, participant_fault=fault, reason=reason)


def unreadable_report(problem: str) -> str:
    """Return the reason given when the report on a participant's model is unusable."""
    return (
        f"The grader's report on your model could not be read ({problem[:200]}). "
        "Build the model from fewer layers with short names, from standard "
        "keras.layers, and save it again."
    )


# What an evaluator imports before its models arrive (see ``evaluator_spare``).
EVALUATOR_WARM = ("keras", "grader._batch", "grader._grade", "grader._cli")


class _Mounts:
    """Bind data folders read-only at /in/N, in the order they are first met."""

    def __init__(self, folders: Sequence[str] = ()) -> None:
        self.binds = [sandbox.Bind(GRADER_DIR, "/opt/dojo/grader")]
        self.mounted: dict[str, str] = {}
        for folder in folders:
            self.folder(str(folder))

    def folder(self, folder: str) -> str:
        if folder not in self.mounted:
            self.mounted[folder] = f"/in/{len(self.mounted)}"
            self.binds.append(sandbox.Bind(folder, self.mounted[folder]))
        return self.mounted[folder]

    def inside(self, host_file: str) -> str:
        """Return the file's path inside, binding its folder once."""
        return f"{self.folder(str(Path(host_file).parent))}/{Path(host_file).name}"


def grader_mounts(jobs: Sequence[Mapping]) -> dict[str, str]:
    """Return where an evaluation sandbox of ``jobs`` binds each data folder.

    Each job's split, then its base model's folder, in the jobs' order: the
    order ``run_grader`` binds them cold, and ``evaluation_folders`` gives a
    warm evaluator.
    """
    mounts = _Mounts()
    for job in jobs:
        mounts.inside(job["data"])
        if job.get("base"):
            mounts.inside(job["base"])
    return dict(mounts.mounted)


def model_mount(model_id: str) -> str:
    """Return where the grader reads a job's model: a copy in the job folder.

    A copy, not a bind: a warm evaluator's binds are fixed before its models
    arrive.
    """
    return f"/job/{model_id}.keras"


def progress_dir(work_root: Path, name: str) -> Path:
    """Return where ``run_grader(name=...)`` has each report written as it is ready.

    Every evaluation sandbox writes there, so one warm evaluator serves a single
    evaluation and a regrade chunk (which reads it model by model) alike.
    """
    return _progress(work_root / name)


def _progress(work: Path) -> Path:
    return work / "progress"


def _grader_argv(work: Path, *, model_cache_bytes: int) -> list[str]:
    argv = ["python", "-m", "grader", "batch", "--jobs", "/job/jobs.json"]
    argv += ["--model-cache-mb", str(max(1, model_cache_bytes // 2**20))]
    argv += ["--out", str(work / "reports.json")]
    argv += ["--touching", str(work / "touching.json")]
    argv += ["--progress", str(_progress(work))]
    return argv


def grader_limits(
    wall_seconds: int, memory_bytes: int, cpus: float = 0
) -> sandbox.SandboxLimits:
    """Return an evaluation sandbox's limits: its CPU is a multiple of its wall.

    ``cpus``: the cores it may use at once (0: no quota), so that one grader
    never takes every core from the worker's other slots.
    """
    return sandbox.SandboxLimits(
        wall_seconds=wall_seconds,
        cpu_seconds=wall_seconds * 4,
        memory_bytes=memory_bytes,
        cpus=cpus,
    )


def _fresh_dirs(work_root: Path, name: str) -> tuple[Path, Path]:
    job_dir, work = work_root / f"{name}-job", work_root / name
    return sandbox.claim_work_dir(job_dir), sandbox.claim_work_dir(work)


def evaluator_spare(
    *,
    work_root: Path,
    name: str,
    data_folders: Sequence[str],
    backend: str,
    env: Mapping[str, str],
    wall_seconds: int,
    memory_bytes: int,
    cpus: float = 0,
    model_cache_bytes: int = MODEL_CACHE_BYTES,
    longest_seconds: int | None = None,
    key: str = "",
) -> sandbox.Spare:
    """Start the evaluation sandbox ``run_grader(name=...)`` would, ahead of time.

    Everything it can see is fixed now: the grader, ``data_folders`` (the
    hidden split's folder: an evaluation sandbox never runs participant code)
    and an empty job folder that the models are copied into when it is used.
    TensorFlow and the grader are imported while it waits.

    ``longest_seconds``: the longest wall budget a run handed to it may have (a
    regrade chunk's), default ``wall_seconds``. Its CPU limit, set now, covers
    that; each run's own wall budget is applied at the handover.
    """
    job_dir, work = _fresh_dirs(work_root, name)
    mounts = _Mounts(data_folders)
    return sandbox.Spare(
        _grader_argv(work, model_cache_bytes=model_cache_bytes),
        work_dir=work,
        binds=[*mounts.binds, sandbox.Bind(job_dir, "/job")],
        env={**env, "PYTHONPATH": "/opt/dojo"},
        limits=grader_limits(
            max(wall_seconds, longest_seconds or 0), memory_bytes, cpus
        ),
        backend=backend,
        chdir=str(work),
        warm=EVALUATOR_WARM,
        key=key,
        owned=(job_dir, work),
    )


def _spare_fits(
    spare: sandbox.Spare,
    *,
    work: Path,
    jobs: Sequence[Mapping],
    folders: list[str],
    limits: sandbox.SandboxLimits,
) -> bool:
    """Return whether ``spare`` was planned for this work dir, inputs and limits.

    The wall budget is the run's own (it counts from the handover); every other
    limit was applied when the spare started: the same, or for CPU no lower.
    """
    needed = {str(Path(job["data"]).parent) for job in jobs}
    needed |= {str(Path(job["base"]).parent) for job in jobs if job.get("base")}
    return (
        spare.work_dir == work.resolve()
        and needed <= set(folders)
        and _same_but_time(spare.limits, limits)
        and spare.limits.cpu_seconds >= limits.cpu_seconds
    )


def _same_but_time(a: sandbox.SandboxLimits, b: sandbox.SandboxLimits) -> bool:
    """Return whether two limits differ in their wall and CPU time at most."""
    return replace(a, wall_seconds=0, cpu_seconds=0) == replace(
        b, wall_seconds=0, cpu_seconds=0
    )


def _within(limits: sandbox.SandboxLimits, spec: JobSpec) -> bool:
    """Return whether a grader with ``limits`` stays within its spec's.

    The same limits, no more time: a regrade chunk's later rounds
    (``evaluation_each``) have less time than its spec, sized for every model.
    """
    bound = spec.sandbox_limits()
    return (
        _same_but_time(limits, bound)
        and limits.wall_seconds <= bound.wall_seconds
        and limits.cpu_seconds <= bound.cpu_seconds
    )


def run_grader(
    jobs: Sequence[Mapping],
    *,
    work_root: Path,
    name: str,
    backend: str,
    env: Mapping[str, str],
    wall_seconds: int,
    memory_bytes: int,
    cpus: float = 0,
    model_cache_bytes: int = MODEL_CACHE_BYTES,
    on_log: Callable[[str], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    on_done: Callable[[], object] | None = None,
    spare: sandbox.Spare | None = None,
    spare_folders: Sequence[str] = (),
    spec: JobSpec | None = None,
) -> tuple[sandbox.SandboxResult, dict[str, Mapping], str, str | None]:
    """Run `python -m grader batch` once.

    Return its result, its reports, a problem reading them, and the id of the
    model the grader was last touching (None if it touched none).

    The grader also writes each report to ``progress_dir(work_root, name)`` as
    it is ready (`on_done` is called before that folder is removed with the
    rest). A `spare` from ``evaluator_spare`` (same name, ``spare_folders`` its
    data folders) runs it warm; one that does not fit, or died, is discarded
    and the grader starts cold.

    ``spec``: the job's spec. The grader's limits must be within it, and the
    sandbox's ending is read back through it before the reports it left: a
    refused ending raises ``JobSpecError`` and none of them is read (progress
    read while it ran, through ``should_cancel``, stands).
    """
    job_dir, work = work_root / f"{name}-job", work_root / name
    folders = [str(f) for f in spare_folders]
    limits = grader_limits(wall_seconds, memory_bytes, cpus)
    if spec is not None and not _within(limits, spec):
        if spare is not None:
            spare.discard()
        raise ValueError(f"the grader's limits {limits} are past its spec's")
    if spare is not None and not (
        _spare_fits(spare, work=work, jobs=jobs, folders=folders, limits=limits)
        and spare.alive()
    ):
        spare.discard()
        spare = None
    if spare is None:
        job_dir, work = _fresh_dirs(work_root, name)
        folders = []
    mounts = _Mounts(folders)
    sandbox_jobs = []
    for job in jobs:
        inside = model_mount(str(job["id"]))
        shutil.copyfile(job["model"], job_dir / Path(inside).name)
        grading = job_dir / f"{job['id']}.spec.json"
        grading.write_text(json.dumps(job["spec"]))
        sandbox_jobs.append(
            {
                "id": str(job["id"]),
                "model": inside,
                "spec": f"/job/{grading.name}",
                "data": mounts.inside(job["data"]),
                "base": mounts.inside(job["base"]) if job.get("base") else None,
            }
        )
    (job_dir / "jobs.json").write_text(json.dumps(sandbox_jobs))
    out, touching = work / "reports.json", work / "touching.json"
    try:
        result = None
        if spare is not None:
            try:
                result = spare.run(
                    on_log=on_log,
                    should_cancel=should_cancel,
                    wall_seconds=wall_seconds,
                )
            except sandbox.SandboxError:
                # It died while waiting: nobody is charged, the grader starts cold.
                return run_grader(
                    jobs,
                    work_root=work_root,
                    name=name,
                    backend=backend,
                    env=env,
                    wall_seconds=wall_seconds,
                    memory_bytes=memory_bytes,
                    cpus=cpus,
                    model_cache_bytes=model_cache_bytes,
                    on_log=on_log,
                    should_cancel=should_cancel,
                    on_done=on_done,
                    spec=spec,
                )
        if result is None:
            result = sandbox.run(
                _grader_argv(work, model_cache_bytes=model_cache_bytes),
                work_dir=work,
                binds=[*mounts.binds, sandbox.Bind(job_dir, "/job")],
                env={**env, "PYTHONPATH": "/opt/dojo"},
                limits=limits,
                backend=backend,
                on_log=on_log,
                should_cancel=should_cancel,
                chdir=str(work),
            )
        if spec is not None:
            job_result_from_sandbox(spec=spec, result=result)
        unreadable = ""
        reports: dict[str, Mapping] = {}
        if out.exists() or out.is_symlink():
            try:
                reports = outputs.reports_read(out)
            except outputs.UntrustedOutputError as exc:
                unreadable = f"the grader's reports.json {exc}"
        touched = _touched(touching)
        if on_done is not None:
            on_done()  # before the work folder (and its progress) goes
    finally:
        _discard(job_dir)
        _discard(work)
    return result, reports, unreadable, touched


def _touched(path: Path) -> str | None:
    """Return the id in the grader's touching marker, or None if none is there."""
    if not (path.exists() or path.is_symlink()):
        return None
    try:
        data = outputs.loads_bounded(outputs.read_bounded(path, max_bytes=1024))
    except outputs.UntrustedOutputError:
        return None
    if not isinstance(data, dict):
        return None
    return outputs.clean_text(data.get("id"), limit=64) or None
