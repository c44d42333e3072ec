"""Grade trained models inside an evaluation sandbox (no Django here).

The sandbox holds the models, the hidden test split and the grader; it never holds
participant code. Many models are graded in one sandbox so TensorFlow starts once.
"""

import json
import logging
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from workers import outputs, sandbox

GRADER_DIR = Path(__file__).resolve().parents[1] / "grader"
logger = logging.getLogger(__name__)


def _discard(path: Path) -> None:
    """Remove a folder whatever it holds; the periodic sweeper retries failures."""
    try:
        sandbox.remove_tree(path)
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
    on_log: Callable[[str], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> EvaluationOutcome:
    """Grade each job's model ({id, model, spec, data, base}) in one sandbox."""
    result, reports, unreadable, touched = run_grader(
        jobs,
        work_root=work_root,
        name=name,
        backend=backend,
        env=env,
        wall_seconds=wall_seconds,
        memory_bytes=memory_bytes,
        on_log=on_log,
        should_cancel=should_cancel,
    )
    if reports:
        return EvaluationOutcome(result=result, reports=reports)
    if unreadable:
        return EvaluationOutcome(result=result, reason=unreadable)
    fault, reason = _reason(result, touched=touched is not None)
    return EvaluationOutcome(result=result, participant_fault=fault, reason=reason)


def run_grader(
    jobs: Sequence[Mapping],
    *,
    work_root: Path,
    name: str,
    backend: str,
    env: Mapping[str, str],
    wall_seconds: int,
    memory_bytes: int,
    on_log: Callable[[str], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    progress: Path | None = None,
    on_done: Callable[[], object] | None = None,
) -> tuple[sandbox.SandboxResult, dict[str, Mapping], str, str | None]:
    """Run `python -m grader batch` once.

    Return its result, its reports, a problem reading them, and the id of the
    model the grader was last touching (None if it touched none).

    With `progress` (a folder under `work_root / name`), the grader also writes
    each report there as it is ready; the folder is removed with the rest.
    """
    job_dir = work_root / f"{name}-job"
    work = work_root / name
    for path in (job_dir, work):
        sandbox.remove_tree(path)
        path.mkdir(parents=True)
    binds = [sandbox.Bind(GRADER_DIR, "/opt/dojo/grader")]
    mounted: dict[str, str] = {}

    def inside(host_file: str) -> str:
        """Bind the file's folder read-only once and return the file's inner path."""
        folder = str(Path(host_file).parent)
        if folder not in mounted:
            mounted[folder] = f"/in/{len(mounted)}"
            binds.append(sandbox.Bind(folder, mounted[folder]))
        return f"{mounted[folder]}/{Path(host_file).name}"

    sandbox_jobs = []
    for job in jobs:
        model = job_dir / f"{job['id']}.keras"
        shutil.copyfile(job["model"], model)
        spec = job_dir / f"{job['id']}.spec.json"
        spec.write_text(json.dumps(job["spec"]))
        sandbox_jobs.append(
            {
                "id": str(job["id"]),
                "model": f"/job/{model.name}",
                "spec": f"/job/{spec.name}",
                "data": inside(job["data"]),
                "base": inside(job["base"]) if job.get("base") else None,
            }
        )
    (job_dir / "jobs.json").write_text(json.dumps(sandbox_jobs))
    binds.append(sandbox.Bind(job_dir, "/job"))
    out = work / "reports.json"
    argv = ["python", "-m", "grader", "batch", "--jobs", "/job/jobs.json"]
    touching = work / "touching.json"
    argv += ["--out", str(out), "--touching", str(touching)]
    if progress is not None:
        argv += ["--progress", str(progress)]
    try:
        result = sandbox.run(
            argv,
            work_dir=work,
            binds=binds,
            env={**env, "PYTHONPATH": "/opt/dojo"},
            limits=sandbox.SandboxLimits(
                wall_seconds=wall_seconds,
                cpu_seconds=wall_seconds * 4,
                memory_bytes=memory_bytes,
            ),
            backend=backend,
            on_log=on_log,
            should_cancel=should_cancel,
            chdir=str(work),
        )
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
