"""A check's grading is a job of the one framework: built as a spec (kind
"evaluate", its result going to the check), its grader's ending read back
through the spec (hand-built endings; no grader runs)."""

import pytest

from checks.execution import check_run_execute
from checks.models import CheckRun, CheckStatus
from checks.services import check_run_create
from tests.fake_grader import ended, grader_that_ends

pytestmark = pytest.mark.django_db


def _checked_on_the_site(participant, mlp) -> CheckRun:
    """Return a check whose model a runner host trained and the site kept: it
    waits only for the site's grader (the training is not the point here)."""
    check = check_run_create(participant=participant, assignment=mlp, source="pass\n")
    CheckRun.objects.filter(pk=check.pk).update(status=CheckStatus.EVALUATING)
    check.refresh_from_db()
    check.kept_model.parent.mkdir(parents=True, exist_ok=True)
    check.kept_model.write_bytes(b"a kept model no grader opens")
    check_run_execute(check_id=check.pk, job_token=str(check.job_token), worker="w@h")
    check.refresh_from_db()
    return check


def test_a_grading_whose_ending_the_spec_refuses_is_a_platform_error(
    participant, workshop, outbox, monkeypatch
):
    """The grader reported the model passing, but its sandbox's exit code is
    one no process has: the check ends `error`, and the report is not shown."""
    started = grader_that_ends(monkeypatch, ended(exit_code=4096))
    check = _checked_on_the_site(participant, workshop.assignments.get(slug="mlp"))
    assert started == [["check"]]
    assert check.status == CheckStatus.ERROR, check.reason
    assert "JobSpecError" in check.reason
    assert check.result == {}


def test_a_grading_whose_ending_the_spec_accepts_passes(
    participant, workshop, outbox, monkeypatch
):
    """The same check with a clean ending shows the grader's report."""
    grader_that_ends(monkeypatch, ended())
    check = _checked_on_the_site(participant, workshop.assignments.get(slug="mlp"))
    assert check.status == CheckStatus.PASSED, check.reason
