"""Run a submission's jobs in the sandbox: train its code, then grade its model."""

from collections.abc import Callable
from pathlib import Path

from jobs.outcome import JobOutcome
from jobs.placement import (
    evaluation_folders,
    evaluation_sandbox,
    job_place_describe,
    job_sandbox_args,
    job_sandbox_run,
    sandbox_limits,
    training_sandbox,
)
from jobs.queues import JobQueue
from jobs.reconcile import TrainingHandBack, job_training_hand_back
from jobs.spares import (
    evaluation_spare_key,
    evaluation_spare_refill,
    evaluation_spare_take,
    training_folders,
    training_spare_key,
    training_spare_refill,
    training_spare_take,
)
from jobs.spec import evaluation_spec_build, job_spec_build
from submissions.artifacts import artifact_keep
from submissions.extensions import model_settle
from submissions.feedback import code_error_reason
from submissions.models import Run, Status, Submission
from submissions.selectors import run_latest_model
from submissions.services.grading import (
    evaluation_inputs,
    history_load,
    report_from_sandbox,
)
from submissions.services.heartbeats import Heartbeat
from submissions.services.jobs import (
    job_apply,
    job_claim,
    job_platform_error,
    run_end,
    run_record,
)
from submissions.services.reconcile import SUBMISSION_JOBS
from workers import sandbox
from workers.evaluation import evaluate_many, grader_limits
from workers.jobspec import JobSpec, job_result_from_sandbox
from workers.notebook import notebook_to_script
from workshops import folders


def _training_failure(result: sandbox.SandboxResult) -> str:
    if result.outcome == sandbox.Outcome.EXIT_NONZERO:
        return code_error_reason(
            log=result.log, exit_code=result.exit_code, retry="submit"
        )
    return result.reason


def submission_train(
    *, submission_id: int, job_token: str, worker: str, queue: str
) -> None:
    """Train a queued submission in a sandbox and keep the model it saves."""
    run = job_claim(
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
        refill = _train(run)
    except Exception as exc:
        job_platform_error(run=run, exc=exc)
        return
    # Once the outcome is applied (the evaluation it asks for is queued): a
    # spare only if nothing waits on this worker, else the next job starts cold.
    refill(queue)


def training_code(*, submission: Submission) -> str:
    """Return the script a submission's training runs (a notebook converted)."""
    with submission.file.open("rb") as handle:
        raw = handle.read()
    if submission.format == Submission.Format.IPYNB:
        return notebook_to_script(raw)
    return raw.decode("utf-8")


def training_spec(
    *, run: Run, code: str, returns: tuple[str, ...] = ("model.keras",)
) -> JobSpec:
    """Return the training's job spec: its script, the training split, its limits.

    The same spec runs here (`submission_train`) and on a runner host that
    joined over the network (`runners`).
    """
    submission = run.submission
    train = folders.assignment_train_dir(submission.assignment_id)
    return job_spec_build(
        kind=Run.Kind.TRAIN.value,
        job_id=f"run:{run.pk}",
        script=code,
        data={"train": (train, "/data")},
        limits=sandbox_limits(assignment=submission.assignment),
        returns=returns,
    )


def training_settle(
    *,
    run: Run,
    result: sandbox.SandboxResult,
    output: Path,
    limits: sandbox.SandboxLimits,
    device: sandbox.DeviceReport | None,
) -> JobOutcome:
    """Record how a training's sandbox ended, keep its model; return the outcome.

    `output` holds what the job gave back (model.keras, history.json): its
    sandbox's output folder here, or a runner's verified uploads.
    """
    training_record(run=run, result=result, device=device)
    refused = ""
    if result.outcome == sandbox.Outcome.OK:
        refused = artifact_keep(
            submission=run.submission, run=run, output=output, limits=limits
        )
    if refused:
        return JobOutcome.failed(reason=refused)
    return _training_outcome(run, result, limits)


def training_record(
    *,
    run: Run,
    result: sandbox.SandboxResult,
    device: sandbox.DeviceReport | None,
) -> None:
    """Record how a training's sandbox ended and what it says it trained on."""
    # The job says, from inside its sandbox, what its backend trained on.
    if device is not None:
        run.device, run.on_gpu = device.name, device.on_gpu
    run_record(run=run, result=result)


def _train(run: Run) -> Callable[[str], bool]:
    """Train the run's code, apply the outcome; return how to start the next spare."""
    submission = run.submission
    code = training_code(submission=submission)
    # The job as a spec (`jobs.spec`): it runs with the spec's limits, and
    # the sandbox's ending is read back through the spec's validated result.
    spec = training_spec(run=run, code=code)
    limits = spec.sandbox_limits()
    gpu = run.queue == JobQueue.TRAIN_GPU

    def plan(job: Path, work: Path) -> tuple[list[str], dict]:
        return job_sandbox_args(gpu=gpu, **_train_args(submission, job, work, limits))

    # A warm spare of this slot, started for exactly this job's sandbox, if any.
    train = folders.assignment_train_dir(submission.assignment_id)
    key = training_spare_key(train=train, plan=plan)
    spare = training_spare_take(key=key)
    job, work = training_folders(spare=spare, name=f"run-{run.pk}")
    (job / "submission.py").write_text(code, encoding="utf-8")
    output = work / "output"
    try:
        run.slot, run.isolation = job_place_describe(gpu=gpu, spare=spare is not None)
        run.save(update_fields=["slot", "isolation"])
        result = job_sandbox_run(
            heartbeat=Heartbeat([run]),
            gpu=gpu,
            **_train_args(submission, job, work, limits),
            spare=spare,
        )
        job_result_from_sandbox(spec=spec, result=result)
        outcome = training_settle(
            run=run,
            result=result,
            output=output,
            limits=limits,
            device=sandbox.read_device_report(work / "device.json"),
        )
    finally:
        # Whatever the job left (a deep tree, 10,000 files) goes; what cannot
        # is logged and swept later, never charged to the participant.
        folders.discard(job)
        folders.discard(work)

    job_apply(run=run, outcome=outcome)
    return lambda queue: training_spare_refill(key=key, plan=plan, queue=queue)


def _train_args(
    submission: Submission, job: Path, work: Path, limits: sandbox.SandboxLimits
) -> dict:
    """Return what a training job runs and sees, given its two folders."""
    return training_sandbox(
        kind=Run.Kind.TRAIN.value,
        job=job,
        work=work,
        data=folders.assignment_train_dir(submission.assignment_id),
        limits=limits,
    )


def _training_outcome(
    run: Run, result: sandbox.SandboxResult, limits: sandbox.SandboxLimits
) -> JobOutcome:
    if result.outcome == sandbox.Outcome.CANCELLED:
        return JobOutcome.cancelled()
    if run.artifact_path:
        return JobOutcome.trained()
    if result.outcome == sandbox.Outcome.OK:
        return JobOutcome.failed(reason=no_model_reason(limits))
    return JobOutcome.failed(reason=_training_failure(result))


def no_model_reason(limits: sandbox.SandboxLimits) -> str:
    """Say why a training that finished left no model the site keeps."""
    return (
        "Your code finished but saved no usable model: "
        "$DOJO_OUTPUT_DIR/model.keras is missing, is not a plain file "
        "(a link, a folder), or is larger than "
        f"{limits.work_dir_bytes // 2**20} MB. Save it with "
        "model.save(os.path.join(os.environ['DOJO_OUTPUT_DIR'], "
        "'model.keras'))."
    )


def submission_evaluate(*, submission_id: int, job_token: str, worker: str) -> None:
    """Grade the submission's trained model in an evaluation sandbox."""
    run = job_claim(
        submission_id=submission_id,
        job_token=job_token,
        kind=Run.Kind.EVALUATE,
        expect=Status.EVALUATING,
        worker=worker,
        queue=JobQueue.EVALUATE,
    )
    if run is None:
        return
    # A model a runner host trained may still wait in the object store: it is
    # read back, verified and kept here, on the site's own worker, never in
    # the web request that brought the host's result.
    try:
        refused = model_settle(submission=run.submission)
    except TrainingHandBack as back:
        run_end(run=run, note=str(back), outcome=Run.Outcome.PLATFORM_ERROR)
        token = str(run.job_token)
        job_training_hand_back(
            kind=SUBMISSION_JOBS, pk=run.submission_id, job_token=token, back=back
        )
        return
    except Exception as exc:
        job_platform_error(run=run, exc=exc)
        return
    if refused:
        run_end(run=run, note=refused)
        job_apply(run=run, outcome=JobOutcome.failed(reason=refused))
        return
    try:
        submission = run.submission
        inputs = evaluation_inputs(
            submission=submission,
            model_run=run_latest_model(submission=submission),
        )
        heartbeat = Heartbeat([run])
        folders = evaluation_folders(inputs=inputs)
        grader = evaluation_sandbox()
        jobs = [{"id": str(submission.pk), **inputs}]
        # The job as a spec (`jobs.spec`), as a training's: the grader runs
        # within its limits and its ending is read back through it; a refused
        # ending is the platform's fault (below).
        spec = evaluation_spec_build(
            kind=Run.Kind.EVALUATE.value,
            job_id=f"run:{run.pk}",
            jobs=jobs,
            split="hidden",
            limits=grader_limits(
                grader["wall_seconds"], grader["memory_bytes"], grader["cpus"]
            ),
        )
        # The slot's warm evaluator, if it was started for these very inputs.
        key = evaluation_spare_key(folders=folders, kwargs=grader)
        spare = evaluation_spare_take(key=key)
        name = spare.work_dir.name if spare is not None else f"eval-{run.pk}"
        outcome = evaluate_many(
            jobs,
            name=name,
            on_log=heartbeat.on_log,
            should_cancel=heartbeat.should_cancel,
            spare=spare,
            spare_folders=folders,
            spec=spec,
            **grader,
        )
        run_record(run=run, result=outcome.result)
        data = outcome.reports.get(str(submission.pk))
        report = report_from_sandbox(data) if data is not None else None
        history, note = history_load(path=inputs["history"])
    except Exception as exc:
        job_platform_error(run=run, exc=exc)
        return

    if report is not None:
        verdict = JobOutcome.graded(report=report, history=history, history_note=note)
    elif outcome.result.outcome == sandbox.Outcome.CANCELLED:
        verdict = JobOutcome.cancelled()
    elif outcome.participant_fault:
        verdict = JobOutcome.failed(reason=outcome.reason)
    else:
        verdict = JobOutcome.error(detail=outcome.reason)
    job_apply(run=run, outcome=verdict)
    # After the outcome, and only if nothing waits on this worker (spare_policy).
    evaluation_spare_refill(key=key, folders=folders, grader=grader)
