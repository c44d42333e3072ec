"""The leaderboard's cached rows follow every change the board shows.

The rows are cached until the workshop's board token is renewed, after the
change commits (workshops/boards.py): each change here runs its on-commit
callbacks as a commit would. Uploads are made before, outside them, as the
other page tests make them (their enqueueing is not what is tested here).
"""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dashboard import board_cache
from grader import GradeReport
from submissions.models import Status, Submission
from submissions.services.finals import submission_mark_final
from submissions.services.grading import grade_record
from submissions.services.moves import submission_move
from tests.platform.conftest import report, submit
from workshops.boards import board_version, board_version_bump
from workshops.services import enrollment_deactivate

pytestmark = pytest.mark.django_db


def _rows(client, url: str, **query) -> str:
    page = client.get(url, query)
    assert page.status_code == 200
    return page.content.decode().split("<tbody>")[1].split("</tbody>")[0]


def _standing_reads(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return sum('"submissions_standing"' in q["sql"] for q in queries.captured_queries)


def _graded(commit, user, assignment, **figures) -> Submission:
    """Upload, then apply a grade as the evaluation worker does, and commit it."""
    submission = submit(user, assignment)
    with commit(execute=True), transaction.atomic():
        submission.move_to(Status.QUEUED)
        submission.move_to(Status.EVALUATING)
        submission.save()
        grade_record(
            submission=submission,
            run=None,
            report=GradeReport.from_dict(report(**figures)),
        )
    return submission


def _regrade(submission: Submission, **figures) -> None:
    """Re-evaluate a graded submission as a regrade's evaluation job ends."""
    with transaction.atomic():
        locked = Submission.objects.select_for_update().get(pk=submission.pk)
        submission_move(submission=locked, status=Status.EVALUATING)
        grade_record(
            submission=locked, run=None, report=GradeReport.from_dict(report(**figures))
        )


def test_a_grade_applied_shows_on_the_next_load(
    participant_client,
    participant,
    other_participant,
    cnn,
    django_capture_on_commit_callbacks,
):
    """A participant who loaded the board sees a grade applied since on reload."""
    commit = django_capture_on_commit_callbacks
    url = reverse("leaderboard", args=[cnn.workshop.slug, cnn.slug])
    _graded(commit, participant, cnn, public=0.8)
    before = _rows(participant_client, url)
    assert "ada" in before and "grace" not in before
    assert _rows(participant_client, url) == before  # served from the cache
    _graded(commit, other_participant, cnn, public=0.9)
    after = _rows(participant_client, url)
    assert after.index("grace") < after.index("ada") and "90.0%" in after
    # The participant's own row is marked per request around the shared rows.
    assert "ada (you)" in after and "grace (you)" not in after


def test_regrade_final_mark_rename_removal_and_close_show_on_reload(
    client,
    participant,
    other_participant,
    instructor,
    cnn,
    django_capture_on_commit_callbacks,
):
    """Each change the board shows is there on the next load of a warm board."""
    commit = django_capture_on_commit_callbacks
    url = reverse("leaderboard", args=[cnn.workshop.slug, cnn.slug])
    mine = _graded(commit, participant, cnn, public=0.9, private=0.5)
    _graded(commit, participant, cnn, public=0.7, private=0.95)
    _graded(commit, other_participant, cnn, public=0.8, private=0.6)
    client.force_login(instructor)
    assert "90.0%" in _rows(client, url)
    with commit(execute=True):
        _regrade(mine, public=0.6, private=0.5)
    regraded = _rows(client, url)
    assert "90.0%" not in regraded and regraded.index("grace") < regraded.index("ada")
    # With none marked, the public best (now the second) counts in private.
    private = _rows(client, url, part="private")
    assert "95.0%" in private and private.index("ada") < private.index("grace")
    with commit(execute=True):
        submission_mark_final(
            participant=participant, submission_id=mine.pk, final=True
        )
    private = _rows(client, url, part="private")
    assert "95.0%" not in private and private.index("grace") < private.index("ada")
    with commit(execute=True):
        participant.username = "ada_l"
        participant.save()
    assert "ada_l" in _rows(client, url)
    enrollment = cnn.workshop.enrollments.get(user=participant)
    with commit(execute=True):
        enrollment_deactivate(enrollment=enrollment)
    assert "ada_l" not in _rows(client, url)
    # Closing the assignment reveals the private figures: no renewal needed,
    # as the page takes private accuracy out per request until then.
    client.force_login(other_participant)
    assert "60.0%" not in _rows(client, url)
    cnn.closed = True
    cnn.save()
    assert "60.0%" in _rows(client, url)


def test_a_new_process_takes_the_rows_from_the_shared_cache(
    instructor_client, participant, cnn, django_capture_on_commit_callbacks
):
    """Another web process serves the rows one process computed; a renewal
    makes every process compute them again."""
    url = reverse("leaderboard", args=[cnn.workshop.slug, cnn.slug])
    _graded(django_capture_on_commit_callbacks, participant, cnn, public=0.8)
    assert _standing_reads(instructor_client, url) > 0
    board_cache.memo_clear()  # what a process that never computed them holds
    assert _standing_reads(instructor_client, url) == 0
    with django_capture_on_commit_callbacks(execute=True):
        board_version_bump(workshop_ids=[cnn.workshop_id])
    assert _standing_reads(instructor_client, url) > 0


def test_the_token_is_renewed_only_once_the_change_commits(
    cnn, participant, make_graded, django_capture_on_commit_callbacks
):
    """A reader in between still gets the old token: rows it reads then, before
    the change is visible, are kept only under the token the commit replaces."""
    graded = make_graded(participant, cnn, public=0.8)
    token = board_version(workshop_id=cnn.workshop_id)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _regrade(graded, public=0.6)
        assert board_version(workshop_id=cnn.workshop_id) == token
    for callback in callbacks:
        callback()
    assert board_version(workshop_id=cnn.workshop_id) != token


def test_changes_the_board_does_not_show_keep_the_token(
    cnn,
    participant,
    make_submission,
    make_failed,
    outbox,
    django_capture_on_commit_callbacks,
):
    """Uploads and failures of a class burst leave the cached rows in use."""
    token = board_version(workshop_id=cnn.workshop_id)
    with django_capture_on_commit_callbacks(execute=True):
        make_submission(participant, cnn)
        make_failed(participant, cnn)
    assert board_version(workshop_id=cnn.workshop_id) == token
