"""The one transition table: every legal status move of every kind of job row.

Three rows carry jobs today: a submission (its training, its evaluation, a
regrade's re-evaluation), a check run and a "try your model" prediction. Each
row's statuses are plain strings here, so this floor knows no higher app; the
rows' models call `transition_refusal` before they move, and a test walks every
pair.
"""

from django.core.exceptions import ValidationError

# Reruns (retrain) go back to queued and regrades (re-evaluate the stored
# model) to evaluating; requeues after a dead worker go back to queued. A
# check run is claimed (running) once per attempt and handed back (queued)
# when its worker is lost or stopped; one trained on a runner host waits for
# the site's grader (evaluating), which is sent again when its grader is lost,
# and trained again (queued) when the model the host staged is not the one it
# announced. A prediction is disposable: claimed once (running), it is answered,
# failed (the model's doing) or ends `error` (past its window, or its worker was
# lost: the asker tries again); it is never queued again.
TRANSITIONS: dict[str, dict[str, frozenset[str]]] = {
    "submission": {
        "received": frozenset({"queued", "failed", "error", "cancelled"}),
        "queued": frozenset({"queued", "training", "evaluating", "error", "cancelled"}),
        "training": frozenset({"evaluating", "failed", "error", "cancelled", "queued"}),
        "evaluating": frozenset({"graded", "failed", "error", "cancelled", "queued"}),
        "graded": frozenset({"queued", "evaluating"}),
        "failed": frozenset({"queued", "evaluating"}),
        "error": frozenset({"queued", "evaluating"}),
        "cancelled": frozenset({"queued"}),
    },
    "check": {
        "queued": frozenset({"queued", "running", "error", "cancelled"}),
        "running": frozenset(
            {"queued", "evaluating", "passed", "failed", "error", "cancelled"}
        ),
        "evaluating": frozenset(
            {"queued", "evaluating", "passed", "failed", "error", "cancelled"}
        ),
        "passed": frozenset(),
        "failed": frozenset(),
        "error": frozenset(),
        "cancelled": frozenset(),
    },
    "prediction": {
        "queued": frozenset({"running", "error"}),
        "running": frozenset({"answered", "failed", "error"}),
        "answered": frozenset(),
        "failed": frozenset(),
        "error": frozenset(),
    },
}


class IllegalTransition(ValidationError):
    """Raised when a job row is asked to move to a status it cannot reach."""


def transition_allowed(*, row: str, start: str, end: str) -> bool:
    """Say whether a `row` ("submission", "check", "prediction") may go from
    `start` to `end`."""
    return end in TRANSITIONS[row].get(start, frozenset())


def transition_check(*, row: str, pk: object, start: str, end: str) -> None:
    """Refuse a move the table does not list."""
    if not transition_allowed(row=row, start=start, end=end):
        raise IllegalTransition(
            f"{row.capitalize()} {pk} cannot go from {start} to {end}."
        )


class JobRowMixin:
    """What every model that carries jobs has: active or not, and its moves.

    The model names its row in the table (`JOB_ROW`) and its in-flight
    statuses (`JOB_ACTIVE`).
    """

    JOB_ROW: str
    JOB_ACTIVE: tuple[str, ...]
    status: str
    pk: object

    @property
    def is_active(self) -> bool:
        return self.status in self.JOB_ACTIVE

    def can_move_to(self, status: str) -> bool:
        return transition_allowed(row=self.JOB_ROW, start=self.status, end=status)

    def status_set(self, status: str) -> None:
        """Set a new status in memory, refusing moves the one table forbids."""
        transition_check(row=self.JOB_ROW, pk=self.pk, start=self.status, end=status)
        self.status = status
