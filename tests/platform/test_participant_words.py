"""What a participant reads names no internal check identifier."""

import pytest

pytestmark = pytest.mark.django_db


def test_submission_page_shows_check_messages_not_ids(
    participant_client, participant, cnn, make_graded
):
    """The checks list reads the grader's sentences, never ids like layers.Dropout."""
    submission = make_graded(participant, cnn, passed=False)
    page = participant_client.get(submission.get_absolute_url()).content.decode()
    assert "Add keras.layers.Dropout." in page
    assert "layers.Dropout</" not in page and "layers.Conv2D" not in page
