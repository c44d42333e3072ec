"""Run a submission's jobs in the sandbox: train its code, then grade its model."""

import json
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from submissions import storage
from submissions.models import Grade, Run, Status, Submission
from submissions.services.lifecycle import _queue_job, run_claim
from workers import sandbox
from workers.notebook import notebook_to_script

logger = logging.getLogger(__name__)

PLATFORM_FAULT = (
    "The platform could not run your submission ({detail}). This is not your "
    "fault and does not count against your limit; it will be looked at."
)


def _limits(submission: Submission) -> sandbox.SandboxLimits:
    assignment = submission.assignment
    return sandbox.SandboxLimits(
        wall_seconds=assignment.wall_seconds,
        cpu_seconds=assignment.cpu_seconds,
        memory_bytes=assignment.memory_mb * 1024 * 1024,
    )


def _base_env() -> dict[str, str]:
    return {
        "KERAS_BACKEND": settings.DOJO_KERAS_BACKEND,
        "PYTHONUNBUFFERED": "1",
        "MPLBACKEND": "Agg",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }


class _Progress:
    """Stream the log to the Run row and notice cancellation, rate-limited."""

    def __init__(self, run: Run) -> None:
        self.run_pk = run.pk
        self.submission_pk = run.submission_id
        self.last_beat = 0.0
        self.last_cancel_check = 0.0

    def on_log(self, log: str) -> None:
        Run.objects.filter(pk=self.run_pk).update(log=log, heartbeat_at=timezone.now())
        self.last_beat = time.monotonic()

    def should_cancel(self) -> bool:
        now = time.monotonic()
        if now - self.last_beat > settings.DOJO_LOG_FLUSH_SECONDS * 2:
            Run.objects.filter(pk=self.run_pk).update(heartbeat_at=timezone.now())
            self.last_beat = now
        if now - self.last_cancel_check < 0.5:
            return False
        self.last_cancel_check = now
        return Submission.objects.filter(
            pk=self.submission_pk, cancel_requested=True
        ).exists()


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


def _sandboxed(
    run: Run,
    argv: list[str],
    *,
    work: Path,
    binds: list,
    env: dict,
    limits: sandbox.SandboxLimits,
) -> sandbox.SandboxResult:
    progress = _Progress(run)
    plan = _placement()
    place = plan.place(_slot(), gpu=run.queue == "train-gpu")
    run.slot, run.isolation = place.slot, plan.describe()[:200]
    run.save(update_fields=["slot", "isolation"])
    return sandbox.run(
        argv,
        work_dir=work,
        binds=[*binds, *place.binds],
        env={**env, **place.env},
        limits=limits,
        backend=settings.DOJO_SANDBOX_BACKEND,
        on_log=progress.on_log,
        log_interval=settings.DOJO_LOG_FLUSH_SECONDS,
        should_cancel=progress.should_cancel,
        devices=place.devices,
        chdir=str(work),
        uid=place.uid,
    )


def _record(run: Run, result: sandbox.SandboxResult) -> None:
    run.finished_at = timezone.now()
    run.exit_code = result.exit_code
    run.outcome = str(result.outcome)
    run.duration_seconds = result.wall_seconds
    run.cpu_seconds = result.cpu_seconds
    run.peak_memory_bytes = result.peak_memory_bytes
    run.log = result.log
    run.log_truncated = result.log_truncated
    run.sandbox_backend = result.backend
    run.save()


def _last_error_line(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in reversed(lines):
        if not line.startswith(("[", "W0000", "I0000")):
            return line[:300]
    return ""


def _training_failure(result: sandbox.SandboxResult) -> str:
    if result.outcome == sandbox.Outcome.EXIT_NONZERO:
        last = _last_error_line(result.log)
        return (
            f"Your code stopped with an error: {last}. The log shows where; fix it "
            "and submit again."
            if last
            else f"Your code exited with status {result.exit_code}. See the log."
        )
    return result.reason


def _finish(run: Run, finish: Callable[[Submission], None]) -> None:
    """Apply a job's result unless the submission has moved on meanwhile."""
    with transaction.atomic():
        submission = (
            Submission.objects.select_for_update()
            .select_related("assignment")
            .get(pk=run.submission_id)
        )
        if submission.job_token != run.job_token or not submission.is_active:
            return
        if submission.cancel_requested:
            submission.move_to(Status.CANCELLED, reason="Cancelled while it ran.")
            submission.save()
        else:
            finish(submission)
        if submission.batch_id and not submission.is_active:
            from submissions.services.regrade import regrade_batch_finish_if_done

            transaction.on_commit(
                lambda: regrade_batch_finish_if_done(batch_id=submission.batch_id)
            )


def _platform_error(run: Run, exc: Exception) -> None:
    logger.exception("Run %s failed on the platform side", run.pk)
    run.finished_at = timezone.now()
    run.outcome = "platform_error"
    run.log = f"{run.log}\n[dojo] platform error: {exc}"
    run.save()

    def finish(submission: Submission) -> None:
        submission.move_to(Status.ERROR, reason=PLATFORM_FAULT.format(detail=exc))
        submission.save()

    _finish(run, finish)


def submission_train(
    *, submission_id: int, job_token: str, worker: str, queue: str
) -> None:
    """Train a queued submission in a sandbox and keep the model it saves."""
    run = run_claim(
        submission_id=submission_id,
        job_token=job_token,
        kind=Run.Kind.TRAIN,
        expect=Status.QUEUED,
        worker=worker,
        queue=queue,
    )
    if run is None:
        return
    try:
        _train(run)
    except Exception as exc:
        _platform_error(run, exc)


def _train(run: Run) -> None:
    submission = run.submission
    raw = submission.file.read()
    submission.file.close()
    code = (
        notebook_to_script(raw)
        if submission.format == Submission.Format.IPYNB
        else raw.decode("utf-8")
    )
    job = storage.work_dir(f"run-{run.pk}-job")
    (job / "submission.py").write_text(code, encoding="utf-8")
    work = storage.work_dir(f"run-{run.pk}")
    output = work / "output"
    output.mkdir()
    try:
        result = _sandboxed(
            run,
            sandbox.runner_argv("/job/submission.py"),
            work=work,
            binds=[
                sandbox.Bind(job, "/job"),
                sandbox.Bind(
                    storage.assignment_train_dir(submission.assignment_id), "/data"
                ),
            ],
            env={
                **_base_env(),
                "DOJO_DATA_DIR": "/data",
                "DOJO_OUTPUT_DIR": str(output),
                "DOJO_DEVICE_REPORT": str(work / "device.json"),
            },
            limits=_limits(submission),
        )
        device = sandbox.read_device_report(work / "device.json")
        if device is not None:
            run.device, run.on_gpu = device.name, device.on_gpu
        _record(run, result)
        keep = storage.artifact_dir(submission.pk) / f"run-{run.pk}"
        limit = _limits(submission).work_dir_bytes
        if result.outcome == sandbox.Outcome.OK and sandbox.copy_out(
            output, "model.keras", keep / "model.keras", max_bytes=limit
        ):
            sandbox.copy_out(
                output, "history.json", keep / "history.json", max_bytes=1024 * 1024
            )
            run.artifact_path = str(keep / "model.keras")
            run.save(update_fields=["artifact_path"])
    finally:
        shutil.rmtree(job, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)

    def finish(submission: Submission) -> None:
        if result.outcome == sandbox.Outcome.CANCELLED:
            submission.move_to(Status.CANCELLED, reason="Cancelled while it ran.")
            submission.save()
        elif run.artifact_path:
            submission.move_to(Status.EVALUATING)
            submission.attempts = 0
            submission.sends = 0
            _queue_job(submission, Run.Kind.EVALUATE)
        elif result.outcome == sandbox.Outcome.OK:
            submission.move_to(
                Status.FAILED,
                reason=(
                    "Your code finished but saved no model. Save it with "
                    "model.save(os.path.join(os.environ['DOJO_OUTPUT_DIR'], "
                    "'model.keras'))."
                ),
            )
            submission.save()
        else:
            submission.move_to(Status.FAILED, reason=_training_failure(result))
            submission.save()

    _finish(run, finish)


def grade_record(
    *, submission: Submission, run: Run | None, report: dict
) -> Grade | None:
    """Apply a grader report: a new Grade (earlier ones kept), or a platform error."""
    if report.get("status") == "error":
        # The grader failed on this item, not the participant's model: no grade.
        detail = report.get("reason") or "the grader failed on this model"
        submission.move_to(Status.ERROR, reason=PLATFORM_FAULT.format(detail=detail))
        submission.save()
        return None
    checks = report.get("checks", [])
    grade = Grade.objects.create(
        submission=submission,
        run=run,
        grader_version=str(report.get("grader_version", "")),
        spec_version=report.get("spec_version") or submission.assignment.spec_version,
        passed_checks=report.get("status") == "graded"
        and all(c.get("passed") for c in checks),
        public_accuracy=report.get("public_accuracy"),
        private_accuracy=report.get("private_accuracy"),
        score=report.get("score") or 0.0,
        checks=checks,
        report=report,
    )
    submission.current_grade = grade
    if report.get("status") == "graded":
        submission.move_to(Status.GRADED)
    else:
        submission.move_to(
            Status.FAILED,
            reason=report.get("reason") or "Your model could not be graded.",
        )
    submission.save()
    return grade


def evaluation_inputs(submission: Submission, model_run: Run) -> dict:
    """Return what the grader needs for one model, as host paths."""
    assignment = submission.assignment
    train_dir = storage.assignment_train_dir(assignment.pk)
    base = train_dir / "base.keras"
    history = Path(model_run.artifact_path).with_name("history.json")
    return {
        "model": model_run.artifact_path,
        "spec": {**assignment.spec, "version": assignment.spec_version},
        "data": str(storage.assignment_hidden_dir(assignment.pk) / "test.npz"),
        "base": str(base) if base.is_file() else None,
        "history": str(history) if history.is_file() else None,
    }


def _with_history(report: dict, history_path: str | None) -> dict:
    if history_path:
        try:
            history = json.loads(Path(history_path).read_text())
            if isinstance(history, dict):
                report = {**report, "history": history}
        except (OSError, ValueError):
            pass
    return report


def submission_evaluate(*, submission_id: int, job_token: str, worker: str) -> None:
    """Grade the submission's trained model in an evaluation sandbox."""
    from workers.evaluation import evaluate_many

    run = run_claim(
        submission_id=submission_id,
        job_token=job_token,
        kind=Run.Kind.EVALUATE,
        expect=Status.EVALUATING,
        worker=worker,
        queue="evaluate",
    )
    if run is None:
        return
    try:
        from submissions.selectors import run_latest_model

        submission = run.submission
        inputs = evaluation_inputs(submission, run_latest_model(submission=submission))
        progress = _Progress(run)
        outcome = evaluate_many(
            [{"id": str(submission.pk), **inputs}],
            work_root=Path(settings.DOJO_WORK_ROOT),
            name=f"eval-{run.pk}",
            backend=settings.DOJO_SANDBOX_BACKEND,
            env=_base_env(),
            wall_seconds=settings.DOJO_EVAL_WALL_SECONDS,
            on_log=progress.on_log,
            should_cancel=progress.should_cancel,
        )
        _record(run, outcome.result)
    except Exception as exc:
        _platform_error(run, exc)
        return

    def finish(submission: Submission) -> None:
        report = outcome.reports.get(str(submission.pk))
        if report is not None:
            grade_record(
                submission=submission,
                run=run,
                report=_with_history(report, inputs["history"]),
            )
        elif outcome.result.outcome == sandbox.Outcome.CANCELLED:
            submission.move_to(Status.CANCELLED, reason="Cancelled while it ran.")
            submission.save()
        elif outcome.participant_fault:
            submission.move_to(Status.FAILED, reason=outcome.reason)
            submission.save()
        else:
            submission.move_to(
                Status.ERROR, reason=PLATFORM_FAULT.format(detail=outcome.reason)
            )
            submission.save()

    _finish(run, finish)
