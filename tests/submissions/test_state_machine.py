"""The submission state machine allows only the documented moves."""

import pytest

from submissions.models import TRANSITIONS, IllegalTransition, Status, Submission


def _at(status: str) -> Submission:
    return Submission(status=status)


@pytest.mark.parametrize("start", list(Status))
@pytest.mark.parametrize("end", list(Status))
def test_every_transition_is_either_allowed_or_raises(start, end):
    submission = _at(start)
    if end in TRANSITIONS[start]:
        submission.move_to(end, reason="why")
        assert submission.status == end and submission.status_reason == "why"
    else:
        with pytest.raises(IllegalTransition):
            submission.move_to(end)
        assert submission.status == start


def test_happy_path_and_final_states_record_finish_time():
    submission = _at(Status.RECEIVED)
    for step in (Status.QUEUED, Status.TRAINING, Status.EVALUATING, Status.GRADED):
        submission.move_to(step)
    assert submission.finished_at is not None
    assert submission.started_at is not None


def test_a_graded_submission_cannot_jump_back_to_training():
    with pytest.raises(IllegalTransition):
        _at(Status.GRADED).move_to(Status.TRAINING)
