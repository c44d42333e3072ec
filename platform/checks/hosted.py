"""Checks trained on runner hosts: the site's half of each.

A runner host (`runners`) claims a queued check through the one claim, trains
its source on the check slice of the training split, and sends back how its
sandbox ended and the model, which the site reads as hostile input, exactly
as it reads a site worker's sandbox (`check_trained_model`). A model goes to
the site's own grader (the check queue), because the public sample is cut
from the hidden split: the check moves to `evaluating`, and
`checks.execution` checks the model there. A training that failed, or was
cancelled, is applied at once through the one applier. A model is never
read in the request that brings the host's result (`check_host_record`): the
check worker takes it from where the host uploaded it before checking it.
"""

from dataclasses import dataclass
from pathlib import Path

from django.utils import timezone

from checks.data import CheckDataMissing, check_data_prepare
from checks.execution import (
    CHECK,
    CheckLog,
    check_run_claim,
    check_source_refusal,
    check_trained_model,
    check_training_line,
)
from checks.models import CheckRun, CheckStatus
from checks.services import check_evaluation_queue
from checks.training import check_training_spec
from jobs.apply import job_apply
from jobs.outcome import JobOutcome, Verdict
from workers import sandbox
from workers.jobspec import JobSpec


@dataclass(frozen=True)
class HostedCheck:
    """A check a runner host claimed: its spec, the folder its data comes
    from, and the platform's line above the host's log."""

    check: CheckRun
    spec: JobSpec
    train_dir: Path
    head: str


def check_host_claim(
    *, check_id: int, job_token: str, worker: str
) -> HostedCheck | None:
    """Claim a queued check for a runner host; None when it is not the host's.

    A source Python cannot read ends `failed` here, and missing data `error`,
    before anything leaves the site; a host never claims a check `evaluating`.
    """
    check = check_run_claim(
        check_id=check_id,
        job_token=job_token,
        worker=worker,
        stages=(CheckStatus.QUEUED,),
    )
    if check is None:
        return None
    log = CheckLog(check)
    refusal = check_source_refusal(check.source)
    if refusal:
        log.say(refusal)
        job_apply(kind=CHECK, job=log, outcome=JobOutcome.failed(reason=refusal))
        return None
    try:
        data = check_data_prepare(assignment_id=check.assignment_id)
        spec = check_training_spec(check=check, data=data)
    except CheckDataMissing as exc:
        detail = f"the assignment's data is missing: {exc}"
        job_apply(kind=CHECK, job=log, outcome=JobOutcome.error(detail=detail))
        return None
    head = check_training_line(check=check, data=data)
    log.say(head)
    return HostedCheck(
        check=check, spec=spec, train_dir=data.train_dir, head=f"[dojo] {head}"
    )


def check_host_holds(*, check: CheckRun, job_token: str) -> bool:
    """Say whether a host's claim (its token) is still the check's training."""
    return check.status == CheckStatus.RUNNING and str(check.job_token) == job_token


def check_host_beat(*, check: CheckRun, head: str, log: str | None) -> None:
    """Keep a check a host trains alive, with the host's log under `head`."""
    if log is None:
        CheckRun.objects.filter(
            pk=check.pk, job_token=check.job_token, status=CheckStatus.RUNNING
        ).update(heartbeat_at=timezone.now())
        return
    CheckLog(check, head=(head,)).touch(now=timezone.now(), log=log)


def check_host_settle(
    *,
    check: CheckRun,
    head: str,
    result: sandbox.SandboxResult,
    output: Path,
    max_bytes: int,
) -> str:
    """Apply a host's training of a check; return its verdict.

    `output` holds only the host's verified uploads. A model is kept for the
    site's grader (`trained`); anything else ends the check now.
    """
    log = CheckLog(check, head=(head,))
    model = check.kept_model
    model.parent.mkdir(parents=True, exist_ok=True)
    trained = check_trained_model(
        log=log, result=result, output=output, model=model, max_bytes=max_bytes
    )
    if isinstance(trained, JobOutcome):
        job_apply(kind=CHECK, job=log, outcome=trained)
        return trained.verdict
    if not check_evaluation_queue(
        check_id=check.pk, job_token=str(check.job_token), log=log.text()
    ):
        return Verdict.CANCELLED
    return Verdict.TRAINED


def check_host_record(
    *, check: CheckRun, head: str, result: sandbox.SandboxResult
) -> str:
    """Send a check a host trained to the site's grader while its model still
    waits where the host uploaded it; return its verdict.

    Nothing of the model is read here: the site's check worker takes it first
    (`checks.extensions.model_settle`), and reads it as `check_trained_model`
    reads a sandbox's.
    """
    log = CheckLog(check, head=(head,))
    log.body = result.log
    if not check_evaluation_queue(
        check_id=check.pk, job_token=str(check.job_token), log=log.text()
    ):
        return Verdict.CANCELLED
    return Verdict.TRAINED
