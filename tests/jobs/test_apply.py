"""The one applier: each kind's outcome goes through the applier it registered;
an outcome that cannot be applied ends the job `error`, and a check's result
is applied only while the check is still the running one with that token."""

import pytest

from checks.execution import CHECK, CheckLog, check_run_claim
from checks.models import CheckRun, CheckStatus
from checks.services import check_run_create
from jobs.apply import job_applier_register, job_apply
from jobs.outcome import JobOutcome, Verdict

pytestmark = pytest.mark.django_db

GOOD = "import keras\nprint('training')\n"


def test_an_outcome_that_cannot_be_applied_ends_the_job_error():
    seen: list[JobOutcome] = []

    def applier(job: object, outcome: JobOutcome) -> None:
        seen.append(outcome)
        if outcome.verdict != Verdict.ERROR:
            raise ValueError("a report it cannot read")

    job_applier_register(kind="test-kind", applier=applier)
    job_apply(kind="test-kind", job="job 1", outcome=JobOutcome.trained())
    assert [o.verdict for o in seen] == [Verdict.TRAINED, Verdict.ERROR]
    assert "a report it cannot read" in seen[-1].reason


@pytest.fixture
def running(participant, workshop, outbox):
    mlp = workshop.assignments.get(slug="mlp")
    check = check_run_create(participant=participant, assignment=mlp, source=GOOD)
    claimed = check_run_claim(
        check_id=check.pk, job_token=str(check.job_token), worker="w@host"
    )
    assert claimed is not None and claimed.attempts == 1
    return claimed


def test_a_check_is_claimed_once_per_message(running):
    again = check_run_claim(
        check_id=running.pk, job_token=str(running.job_token), worker="w@host"
    )
    assert again is None, "a duplicate message finds it running"


@pytest.mark.parametrize(
    ("outcome", "status", "reason"),
    [
        (JobOutcome.passed(result={"checks": []}), CheckStatus.PASSED, ""),
        (JobOutcome.failed(reason="Your bug."), CheckStatus.FAILED, "Your bug."),
        (JobOutcome.error(detail="disk full"), CheckStatus.ERROR, "(disk full)"),
        (JobOutcome.cancelled(), CheckStatus.CANCELLED, "Cancelled while it ran."),
        # Not a check's way to end: applied as the platform's fault instead.
        (JobOutcome.trained(), CheckStatus.ERROR, "its result was unusable"),
    ],
)
def test_a_checks_outcome_becomes_its_status(running, outcome, status, reason):
    log = CheckLog(running)
    log.say("started")
    job_apply(kind=CHECK, job=log, outcome=outcome)
    running.refresh_from_db()
    assert running.status == status
    assert reason in running.reason
    assert "[dojo] started" in running.log


def test_a_replaced_checks_outcome_is_not_applied(running, participant):
    log = CheckLog(running)
    CheckRun.objects.filter(pk=running.pk).update(status=CheckStatus.CANCELLED)
    job_apply(kind=CHECK, job=log, outcome=JobOutcome.passed(result={}))
    running.refresh_from_db()
    assert running.status == CheckStatus.CANCELLED
