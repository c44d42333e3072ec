"""Run a check on a worker: train the source on the check slice, then check the
model it saved like a submission's, with an indicative accuracy on a public
sample.

The same sandbox, environment and limits as a submission's training, with
tighter time; the training sandbox sees only the check slice of the training
split, the evaluation sandbox only the public sample (never participant code).
A check a runner host trained (`checks.hosted`) comes back here `evaluating`:
the same task then only checks the model it kept, on the site, because the
public sample is cut from the hidden split.
"""

import logging
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from checks import feedback
from checks.data import CheckData, CheckDataMissing, check_data_prepare
from checks.extensions import model_settle
from checks.feedback import PLATFORM_FAULT
from checks.grading import check_grade, check_grader_refill
from checks.models import CheckRun, CheckStatus, log_bound
from checks.reconcile import CHECK_JOBS
from checks.training import check_spare_refill, check_train
from jobs.apply import job_apply
from jobs.claim import job_claim_row, job_row_started
from jobs.dbconn import db_reconnect_if_cut
from jobs.heartbeat import Heartbeat
from jobs.outcome import JobOutcome, Verdict
from jobs.reconcile import TrainingHandBack, job_training_hand_back
from workers import outputs, sandbox
from workshops import folders

# The kind of job a check run is: its applier is `check_result_apply`.
CHECK = "check"

logger = logging.getLogger(__name__)

NO_MODEL = (
    "Your code finished but saved no usable model: $DOJO_OUTPUT_DIR/model.keras "
    "is missing, is not a plain file, or is larger than {mb} MB. Save it with "
    "model.save(os.path.join(os.environ['DOJO_OUTPUT_DIR'], 'model.keras'))."
)
# How each way a job ends shows on a check run.
STATUS = {
    Verdict.PASSED: CheckStatus.PASSED,
    Verdict.FAILED: CheckStatus.FAILED,
    Verdict.ERROR: CheckStatus.ERROR,
    Verdict.CANCELLED: CheckStatus.CANCELLED,
}


class CheckLog(Heartbeat):
    """A check's heartbeat: keep its log (platform lines around the job's output),
    stream it, and notice when the check was replaced or cancelled."""

    def __init__(self, check: CheckRun, *, head: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.pk, self.token, self.status = check.pk, check.job_token, check.status
        self.head: list[str] = list(head)
        # Checking a model a runner host trained: its training's log is kept.
        self.body = check.log if check.status == CheckStatus.EVALUATING else ""
        self.tail: list[str] = []
        self.saw_output = False
        self.folders: list[Path] = []
        self.data: CheckData | None = None
        self.warm: bool | None = None

    def __str__(self) -> str:
        return f"check {self.pk}"

    def text(self) -> str:
        parts = [*self.head, self.body.rstrip("\n"), *self.tail]
        return log_bound("\n".join(p for p in parts if p) + "\n")

    def _rows(self):
        return CheckRun.objects.filter(
            pk=self.pk, job_token=self.token, status=self.status
        )

    def touch(self, *, now: object, log: str | None) -> None:
        if log is not None:
            self.body = log
        self._rows().update(log=self.text(), heartbeat_at=now)
        if log is not None and not self.saw_output and log.strip():
            self.saw_output = True
            self._rows().filter(first_log_at__isnull=True).update(first_log_at=now)

    def cancel_asked(self) -> bool:
        return not self._rows().exists()

    def say(self, line: str, *, at_end: bool = False) -> None:
        (self.tail if at_end else self.head).append(f"[dojo] {line}")
        self.beat()


def check_run_claim(
    *,
    check_id: int,
    job_token: str,
    worker: str,
    stages: tuple[str, ...] = (CheckStatus.QUEUED, CheckStatus.EVALUATING),
) -> CheckRun | None:
    """Start the check if the message is current; None for stale or duplicates.

    A queued check is trained (and checked); one `evaluating` waits for the
    site's grader only. A runner host claims `stages=(QUEUED,)`: it trains,
    and never sees the public sample.
    """

    def start(check: CheckRun) -> CheckRun:
        now = timezone.now()
        if check.status == CheckStatus.QUEUED:
            check.move_to(CheckStatus.RUNNING)
            check.started_at = now
        job_row_started(check, worker=worker, now=now)
        return check

    return job_claim_row(
        model=CheckRun,
        pk=check_id,
        related=("assignment",),
        token=job_token,
        claimable=lambda check: check.status in stages,
        start=start,
    )


def check_run_execute(*, check_id: int, job_token: str, worker: str) -> None:
    """Run a queued check and record how it ended (idempotent per message)."""
    check = check_run_claim(check_id=check_id, job_token=job_token, worker=worker)
    if check is None:
        return
    log = CheckLog(check)
    trained_elsewhere = check.status == CheckStatus.EVALUATING
    try:
        if trained_elsewhere:
            outcome = _check_kept_model(check, log)
        else:
            outcome = _run(check, log)
    except TrainingHandBack as back:
        # The host's doing, never the participant's: trained again.
        job_training_hand_back(
            kind=CHECK_JOBS, pk=check.pk, job_token=str(check.job_token), back=back
        )
        return
    except Exception as exc:
        logger.exception("Check %s failed on the platform side", check.pk)
        outcome = JobOutcome.error(detail=type(exc).__name__)
    job_apply(kind=CHECK, job=log, outcome=outcome)
    if log.data is not None:
        # After the result is shown: the next check here starts warm (its
        # training only where this worker trains checks).
        if not trained_elsewhere:
            check_spare_refill(check=check, data=log.data)
        check_grader_refill(data=log.data)


def check_result_apply(log: CheckLog, outcome: JobOutcome) -> None:
    """Store a check's outcome unless it was replaced or cancelled meanwhile.

    The applier checks registers for its kind (`jobs.apply`).
    """
    status = STATUS[outcome.verdict]
    reason = outcome.reason
    if outcome.verdict == Verdict.ERROR:
        reason = PLATFORM_FAULT.format(detail=reason)
    with transaction.atomic():
        row = CheckRun.objects.select_for_update().filter(pk=log.pk).first()
        if row is None or row.job_token != log.token or row.status != log.status:
            return
        row.finish(status, reason=reason)
        row.result = sandbox.neutralise_json(outcome.result or {})
        row.log = log.text()
        row.warm_start = log.warm
        row.save(
            update_fields=[
                "status",
                "reason",
                "finished_at",
                "result",
                "log",
                "warm_start",
            ]
        )


def check_source_refusal(source: str) -> str:
    """Return why Python cannot compile the source, or "" (checked before any
    training, wherever it runs)."""
    try:
        compile(source, "check.py", "exec", dont_inherit=True)
    except SyntaxError as exc:
        return (
            f"Python cannot read your code: {exc.msg} at line {exc.lineno}. Fix it "
            "and check again."
        )
    except (MemoryError, RecursionError, OverflowError, ValueError):
        return (
            "Python cannot compile your code: an expression is nested too deeply "
            "or is too long. Split it into smaller statements and check again."
        )
    return ""


def _run(check: CheckRun, log: CheckLog) -> JobOutcome:
    refusal = check_source_refusal(check.source)
    if refusal:
        log.say(refusal)
        return JobOutcome.failed(reason=refusal)
    try:
        data = check_data_prepare(assignment_id=check.assignment_id)
    except CheckDataMissing as exc:
        return JobOutcome.error(detail=f"the assignment's data is missing: {exc}")
    log.say(check_training_line(check=check, data=data))
    log.data = data
    try:
        trained = _train(check, log, data)
        if isinstance(trained, JobOutcome):
            return trained
        _say_checking(check, log, data, "Training finished.")
        return _evaluate(check, log, data, trained)
    finally:
        for folder in log.folders:
            folders.discard(folder)


def check_training_line(*, check: CheckRun, data: CheckData) -> str:
    """Return the line a check's log starts with: what it trains on."""
    noun = feedback.examples_noun(check.assignment.spec)
    return f"Check run: training your code on {data.training_slice(noun)}."


def _say_checking(check: CheckRun, log: CheckLog, data: CheckData, done: str) -> None:
    noun = feedback.examples_noun(check.assignment.spec)
    log.say(
        f"{done} Checking the saved model and measuring an "
        f"indicative accuracy on {data.public_count} public test {noun}...",
        at_end=True,
    )


def _check_kept_model(check: CheckRun, log: CheckLog) -> JobOutcome:
    """Check the model a runner host trained, once the site has kept it.

    The host's upload is taken here, on the site's worker, never in the
    request that brought its result (`checks.extensions.model_settle`).
    """
    refused = model_settle(check=check)
    if refused:
        log.say(refused, at_end=True)
        return JobOutcome.failed(reason=refused)
    try:
        data = check_data_prepare(assignment_id=check.assignment_id)
    except CheckDataMissing as exc:
        return JobOutcome.error(detail=f"the assignment's data is missing: {exc}")
    log.data = data
    if not check.kept_model.is_file():
        return JobOutcome.error(detail="the model trained on a runner host is gone")
    _say_checking(check, log, data, "Training finished on a runner host.")
    return _evaluate(check, log, data, check.kept_model)


def check_trained_model(
    *,
    log: CheckLog,
    result: sandbox.SandboxResult,
    output: Path,
    model: Path,
    max_bytes: int,
) -> Path | JobOutcome:
    """Return the model a check's training saved, copied to `model`, or how it
    failed: the same reading of a site worker's sandbox and a runner host's.

    `output` is the sandbox's output folder, or a runner host's verified
    uploads; what is copied is bounded and link-free either way.
    """
    log.body = result.log
    if result.outcome == sandbox.Outcome.CANCELLED:
        return JobOutcome.cancelled()
    if result.outcome != sandbox.Outcome.OK:
        reason = feedback.training_failure(result)
        log.say(reason, at_end=True)
        return JobOutcome.failed(reason=reason)
    if not sandbox.copy_out(output, "model.keras", model, max_bytes=max_bytes):
        reason = NO_MODEL.format(mb=max_bytes // 2**20)
        log.say(reason, at_end=True)
        return JobOutcome.failed(reason=reason)
    return model


def _train(check: CheckRun, log: CheckLog, data: CheckData) -> Path | JobOutcome:
    """Train in the sandbox; return the saved model's path or how it failed."""
    trained = check_train(check=check, data=data, heartbeat=log)
    log.folders.extend(trained.folders)
    log.warm = trained.warm
    db_reconnect_if_cut()
    return check_trained_model(
        log=log,
        result=trained.result,
        output=trained.output,
        model=trained.model,
        max_bytes=trained.limits.work_dir_bytes,
    )


def _evaluate(
    check: CheckRun, log: CheckLog, data: CheckData, model: Path
) -> JobOutcome:
    """Grade the model on the public sample only, in an evaluation sandbox."""
    assignment = check.assignment
    outcome = check_grade(
        check=check, data=data, model=model, should_cancel=log.should_cancel
    )
    db_reconnect_if_cut()
    if outcome.result.outcome == sandbox.Outcome.CANCELLED:
        return JobOutcome.cancelled()
    data_report = outcome.reports.get("check")
    if data_report is None:
        if outcome.result.outcome == sandbox.Outcome.TIMED_OUT:
            # A DL101-sized model (max_params) grades in seconds on a few
            # hundred images: running out of time here means a busy worker.
            return JobOutcome.error(detail="checking the model took too long")
        if outcome.participant_fault:
            log.say(outcome.reason, at_end=True)
            return JobOutcome.failed(reason=outcome.reason)
        return JobOutcome.error(detail=outcome.reason)
    report = outputs.report_parse(data_report)
    if report.status == "error":
        return JobOutcome.error(detail=report.reason or "the grader failed")
    result = feedback.check_result(
        report,
        training_slice=data.training_slice(feedback.examples_noun(assignment.spec)),
        train_count=data.train_count,
        public_count=data.public_count,
        spec=assignment.spec,
    )
    passed = report.status == "graded" and report.passed_checks
    reason = "" if passed else feedback.failure_reason(report)
    log.say("All checks passed." if passed else f"Check failed: {reason}", at_end=True)
    if passed:
        return JobOutcome.passed(result=result)
    return JobOutcome.failed(reason=reason, result=result)
