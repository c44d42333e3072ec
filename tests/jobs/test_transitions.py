"""The one transition table: every job row allows only the moves it lists.

Every (start, end) pair of every row that carries jobs is walked: a listed
move happens, any other is refused and leaves the row as it was.
"""

import pytest

from checks.models import CheckRun, CheckStatus
from jobs.transitions import TRANSITIONS, IllegalTransition
from submissions.models import Status, Submission
from submissions.prediction_rows import Prediction, PredictionStatus

ROWS = {
    "submission": (Submission, Status),
    "check": (CheckRun, CheckStatus),
    "prediction": (Prediction, PredictionStatus),
}


def _move(row: str, obj: object, end: str) -> None:
    if row == "submission":
        obj.move_to(end, reason="why")
    elif row == "prediction":
        obj.status_set(end)
    else:
        obj.move_to(end)


def test_the_table_covers_every_status_of_every_job_row():
    assert set(ROWS) == set(TRANSITIONS)
    for row, (_, statuses) in ROWS.items():
        assert set(TRANSITIONS[row]) == set(statuses.values), row
        for ends in TRANSITIONS[row].values():
            assert ends <= set(statuses.values), row


@pytest.mark.parametrize(
    ("row", "start", "end"),
    [
        (row, start, end)
        for row, (_, statuses) in ROWS.items()
        for start in statuses.values
        for end in statuses.values
    ],
)
def test_every_transition_is_either_allowed_or_refused(row, start, end):
    model = ROWS[row][0]
    obj = model(status=start)
    if end in TRANSITIONS[row][start]:
        _move(row, obj, end)
        assert obj.status == end
    else:
        with pytest.raises(IllegalTransition, match=f"from {start} to {end}"):
            _move(row, obj, end)
        assert obj.status == start


def test_a_moved_submission_keeps_its_reason_and_times():
    submission = Submission(status=Status.RECEIVED)
    for step in (Status.QUEUED, Status.TRAINING, Status.EVALUATING, Status.GRADED):
        submission.move_to(step, reason="why")
    assert submission.status_reason == "why"
    assert submission.finished_at is not None
    assert submission.started_at is not None


def test_a_finished_check_cannot_run_again():
    check = CheckRun(status=CheckStatus.PASSED)
    with pytest.raises(IllegalTransition):
        check.finish(CheckStatus.ERROR, reason="late")
    assert check.status == CheckStatus.PASSED and check.finished_at is None


def test_a_prediction_is_never_queued_again():
    """Disposable: once claimed it ends; the asker asks again instead."""
    prediction = Prediction(status=PredictionStatus.RUNNING)
    with pytest.raises(IllegalTransition):
        prediction.status_set(PredictionStatus.QUEUED)
    prediction.finish(PredictionStatus.ERROR, reason="\x1b[31mgone")
    assert prediction.status == PredictionStatus.ERROR
    assert "\x1b" not in prediction.reason and prediction.finished_at is not None
