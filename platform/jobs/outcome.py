"""What a job ended with, as one value that its kind's applier turns into a status.

Every job kind (train, evaluate, a regrade's re-evaluation, a check run, a
prediction) says
how it ended with a `JobOutcome`; none of them moves its row itself. The
applier its app registered (`jobs.apply`) does, in one place per kind.
"""

from dataclasses import dataclass
from enum import StrEnum

from grader import GradeReport

CANCELLED_WHILE_RUNNING = "Cancelled while it ran."


class Verdict(StrEnum):
    GRADED = "graded"  # the grader's report is recorded as a grade
    PASSED = "passed"  # a check run's checks passed; `result` shows how
    ANSWERED = "answered"  # a prediction's answer is `result`
    TRAINED = "trained"  # a model was kept: evaluation is queued next
    FAILED = "failed"  # the participant's code or model caused it; counts
    ERROR = "error"  # the platform's fault (refunded); `reason` is the detail
    CANCELLED = "cancelled"
    KEEP_PREVIOUS = "keep_previous"  # a regrade gave nothing: the old grade stays


@dataclass(frozen=True)
class JobOutcome:
    """How one job ended; build it with the class methods."""

    verdict: Verdict
    reason: str = ""
    report: GradeReport | None = None
    history: dict | None = None
    history_note: str = ""
    # For KEEP_PREVIOUS without an earlier grade: failed (True) or error.
    participant_fault: bool = False
    # What a check run shows the participant (feedback, indicative accuracy),
    # or a prediction's answer.
    result: dict | None = None

    @classmethod
    def graded(
        cls, *, report: GradeReport, history: dict | None = None, history_note: str = ""
    ) -> "JobOutcome":
        return cls(
            Verdict.GRADED, report=report, history=history, history_note=history_note
        )

    @classmethod
    def trained(cls) -> "JobOutcome":
        return cls(Verdict.TRAINED)

    @classmethod
    def passed(cls, *, result: dict) -> "JobOutcome":
        return cls(Verdict.PASSED, result=result)

    @classmethod
    def answered(cls, *, result: dict) -> "JobOutcome":
        return cls(Verdict.ANSWERED, result=result)

    @classmethod
    def failed(cls, *, reason: str, result: dict | None = None) -> "JobOutcome":
        return cls(Verdict.FAILED, reason=reason, result=result)

    @classmethod
    def error(cls, *, detail: object) -> "JobOutcome":
        """The platform's fault; each kind words it for its participant."""
        return cls(Verdict.ERROR, reason=str(detail))

    @classmethod
    def cancelled(cls, *, reason: str = CANCELLED_WHILE_RUNNING) -> "JobOutcome":
        return cls(Verdict.CANCELLED, reason=reason)

    @classmethod
    def keep_previous(cls, *, reason: str, participant_fault: bool) -> "JobOutcome":
        return cls(
            Verdict.KEEP_PREVIOUS, reason=reason, participant_fault=participant_fault
        )
