"""A submission's evaluation is a job of the one framework: built as a spec,
its grader's ending read back through the spec (hand-built endings, stored
models; no grader runs)."""

import pytest

from submissions.models import Run, Status, Submission
from submissions.services.execution import submission_evaluate
from tests.fake_grader import ended, grader_that_ends
from tests.model_builders import UNREAD, evaluating_with_model
from workers import sandbox
from workers.jobspec import LOG_MARGIN

pytestmark = pytest.mark.django_db

# Past what the spec lets a sandbox's log be (its log limit and the marker).
FLOOD = "x" * (sandbox.SandboxLimits().log_bytes + LOG_MARGIN + 1)


def _evaluate(submission: Submission) -> Submission:
    submission_evaluate(
        submission_id=submission.pk,
        job_token=str(submission.job_token),
        worker="test@host",
    )
    submission.refresh_from_db()
    return submission


@pytest.mark.parametrize(
    ("ending", "field"),
    [
        (ended(log=FLOOD), "result.log"),
        (ended(exit_code=999), "result.exit_code"),
        (ended(wall_seconds=float("nan")), "result.wall_seconds"),
    ],
    ids=["oversized-log", "exit-code-out-of-range", "nan-wall-time"],
)
def test_an_ending_the_spec_refuses_is_a_platform_error_and_no_report_is_taken(
    participant, workshop, monkeypatch, ending, field
):
    """The grader wrote a graded report, but its sandbox ended in a way the
    spec refuses: the evaluation ends `error` (refunded) naming the field,
    and the report is never read."""
    mlp = workshop.assignments.get(slug="mlp")
    submission = evaluating_with_model(participant, mlp, UNREAD)
    started = grader_that_ends(monkeypatch, ending)
    submission = _evaluate(submission)
    assert started == [[str(submission.pk)]]
    assert submission.status == Status.ERROR, submission.status_reason
    assert submission.current_grade is None
    run = submission.runs.get(kind=Run.Kind.EVALUATE)
    assert run.outcome == Run.Outcome.PLATFORM_ERROR
    assert f"platform error: {field}: " in run.log


def test_an_ending_the_spec_accepts_is_graded(participant, workshop, monkeypatch):
    """The same path with a clean ending takes the grader's report."""
    mlp = workshop.assignments.get(slug="mlp")
    submission = evaluating_with_model(participant, mlp, UNREAD)
    grader_that_ends(monkeypatch, ended())
    submission = _evaluate(submission)
    assert submission.status == Status.GRADED, submission.status_reason
    assert submission.current_grade.score == 99.0
