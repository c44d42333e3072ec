"""The leaderboard's two rankings and the submissions participants mark final."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from dashboard import selectors
from submissions.models import Standing
from submissions.services.finals import submission_mark_final
from submissions.services.standings import standings_check

pytestmark = pytest.mark.django_db


def _names(board: list[dict]) -> list[str]:
    return [e["username"] for e in board]


def _third(workshop, name: str = "hedy"):
    from accounts.services import user_ensure
    from workshops.services import enrollment_add

    user = user_ensure(username=name, password=f"{name}-pass-123")
    enrollment_add(workshop=workshop, user=user)
    return user


def test_ranking_puts_passed_checks_first_then_accuracy_then_the_earlier(
    participant, other_participant, cnn, make_graded
):
    """Equal accuracy goes to who got there first; failing checks ranks last."""
    third = _third(cnn.workshop)
    fourth = _third(cnn.workshop, "alan")
    make_graded(other_participant, cnn, public=0.9)  # first to reach 0.9
    make_graded(participant, cnn, public=0.9)
    make_graded(third, cnn, public=0.99, passed=False)  # breaks a rule
    make_graded(fourth, cnn, public=0.95)
    board = selectors.leaderboard(assignment=cnn, include_private=False)
    assert _names(board) == ["alan", "grace", "ada", "hedy"]
    assert [e["rank"] for e in board] == [1, 2, 3, 4]
    for entry in board:
        mine = selectors.leaderboard_entry_for(
            assignment=cnn,
            participant=type(participant).objects.get(username=entry["username"]),
            include_private=False,
        )
        assert mine["rank"] == entry["rank"]
    page = selectors.leaderboard(
        assignment=cnn, include_private=False, offset=2, limit=2
    )
    assert [(e["rank"], e["username"]) for e in page] == [(3, "ada"), (4, "hedy")]


def test_a_participants_best_public_submission_passing_checks_is_theirs(
    participant, cnn, make_graded
):
    """A higher accuracy that fails the checks does not stand for a passing one."""
    make_graded(participant, cnn, public=0.97, passed=False)
    passing = make_graded(participant, cnn, public=0.9)
    make_graded(participant, cnn, public=0.8)
    (entry,) = selectors.leaderboard(assignment=cnn, include_private=False)
    assert (entry["submission_id"], entry["public_accuracy"]) == (passing.pk, 0.9)
    assert entry["passed_checks"] is True


def test_private_ranking_counts_the_marked_submissions_or_the_public_best(
    participant, other_participant, cnn, make_graded
):
    """Marked: the best of them on the private part; none marked: the public best."""
    make_graded(participant, cnn, public=0.95, private=0.80)
    steady = make_graded(participant, cnn, public=0.90, private=0.91)
    make_graded(other_participant, cnn, public=0.93, private=0.88)
    private = selectors.leaderboard(
        assignment=cnn, include_private=True, part="private"
    )
    assert [(e["username"], e["private_accuracy"]) for e in private] == [
        ("grace", 0.88),
        ("ada", 0.80),
    ]
    submission_mark_final(participant=participant, submission_id=steady.pk, final=True)
    private = selectors.leaderboard(
        assignment=cnn, include_private=True, part="private"
    )
    assert [(e["username"], e["private_accuracy"]) for e in private] == [
        ("ada", 0.91),
        ("grace", 0.88),
    ]
    assert private[0]["submission_id"] == steady.pk and private[0]["finals"] == 1
    # The public ranking still shows the best public submission.
    public = selectors.leaderboard(assignment=cnn, include_private=False)
    assert [(e["username"], e["public_accuracy"]) for e in public][0] == ("ada", 0.95)
    assert list(standings_check(assignments=[cnn])) == []


def test_marking_more_than_the_limit_is_refused_with_the_reason(
    participant, cnn, make_graded
):
    """Up to final_limit marks; another is refused until one is unmarked."""
    cnn.final_limit = 2
    cnn.save()
    first, second, third = (make_graded(participant, cnn) for _ in range(3))
    for submission in (first, second):
        submission_mark_final(
            participant=participant, submission_id=submission.pk, final=True
        )
    with pytest.raises(ValidationError) as refused:
        submission_mark_final(
            participant=participant, submission_id=third.pk, final=True
        )
    assert "already marked 2 submissions as final" in refused.value.messages[0]
    assert "Unmark one first" in refused.value.messages[0]
    third.refresh_from_db()
    assert third.final_at is None
    submission_mark_final(participant=participant, submission_id=first.pk, final=False)
    submission_mark_final(participant=participant, submission_id=third.pk, final=True)
    standing = Standing.objects.get(participant=participant, assignment=cnn)
    assert standing.finals == 2
    # Marking one already marked changes nothing and is not refused.
    submission_mark_final(participant=participant, submission_id=third.pk, final=True)


def test_lowering_the_limit_counts_the_most_recently_marked(
    participant, cnn, make_graded
):
    """The rebuild after a limit change keeps the newest marks within it."""
    older = make_graded(participant, cnn, public=0.8, private=0.95)
    newer = make_graded(participant, cnn, public=0.8, private=0.70)
    for submission in (older, newer):
        submission_mark_final(
            participant=participant, submission_id=submission.pk, final=True
        )
    cnn.final_limit = 1
    cnn.save()
    standing = Standing.objects.get(participant=participant, assignment=cnn)
    assert (standing.finals, standing.private_submission_id) == (1, newer.pk)


def test_marking_someone_elses_submission_is_refused(
    participant, other_participant, instructor, cnn, make_graded, make_submission
):
    """Another's submission, an instructor, a running one or a closed assignment."""
    theirs = make_graded(other_participant, cnn)
    with pytest.raises(PermissionDenied, match="only your own"):
        submission_mark_final(
            participant=participant, submission_id=theirs.pk, final=True
        )
    with pytest.raises(PermissionDenied):
        submission_mark_final(
            participant=instructor, submission_id=theirs.pk, final=True
        )
    running = make_submission(participant, cnn)
    with pytest.raises(ValidationError, match="Only a graded submission"):
        submission_mark_final(
            participant=participant, submission_id=running.pk, final=True
        )
    mine = make_graded(participant, cnn)
    mlp = cnn.workshop.assignments.get(slug="mlp")
    with pytest.raises(ValidationError, match="belongs to another assignment"):
        submission_mark_final(
            participant=participant,
            submission_id=mine.pk,
            final=True,
            assignment_id=mlp.pk,
        )
    cnn.closed = True
    cnn.save()
    with pytest.raises(ValidationError, match="final choice is fixed"):
        submission_mark_final(
            participant=participant, submission_id=mine.pk, final=True
        )
    theirs.refresh_from_db()
    mine.refresh_from_db()
    assert theirs.final_at is None and mine.final_at is None


def test_final_page_marks_and_refuses_with_messages(
    client, participant, other_participant, cnn, make_graded
):
    """The leaderboard page lists my graded submissions with Mark final buttons."""
    mine = make_graded(participant, cnn, public=0.9)
    theirs = make_graded(other_participant, cnn, public=0.8)
    client.force_login(participant)
    board = reverse("leaderboard", args=[cnn.workshop.slug, cnn.slug])
    mark = reverse("final-mark", args=[cnn.workshop.slug, cnn.slug])
    page = client.get(board).content.decode()
    assert "Your final submissions" in page and "Mark final" in page
    answer = client.post(mark, {"submission": mine.pk, "final": "1"}, follow=True)
    assert f"Submission {mine.pk} is marked final." in answer.content.decode()
    assert "Unmark final" in answer.content.decode()
    refused = client.post(mark, {"submission": theirs.pk, "final": "1"})
    assert refused.status_code == 403
    assert "only your own" in refused.content.decode()
    missing = client.post(mark, {"submission": "x", "final": "1"}, follow=True)
    assert "its number was missing" in missing.content.decode()
    cnn.final_limit = 1
    cnn.save()
    second = make_graded(participant, cnn, public=0.7)
    over = client.post(mark, {"submission": second.pk, "final": "1"}, follow=True)
    assert "already marked 1 submission as final" in over.content.decode()
    assert client.get(mark).status_code == 405


def test_api_marks_final_and_refuses_with_the_reason(
    participant, other_participant, cnn, make_graded
):
    """POST /api/submissions/<id>/final/ marks; refusals say why, nothing changes."""
    from tests.api.api_builders import token_client

    cnn.final_limit = 1
    cnn.save()
    mine, another = make_graded(participant, cnn), make_graded(participant, cnn)
    theirs = make_graded(other_participant, cnn)
    api = token_client(participant)
    url = reverse("api:submission-final", args=[mine.pk])
    answer = api.post(url, {"final": True}, format="json")
    assert answer.status_code == 200 and answer.json()["marked_final"] is True
    over = api.post(
        reverse("api:submission-final", args=[another.pk]),
        {"final": True},
        format="json",
    )
    assert over.status_code == 400
    assert "already marked 1 submission" in over.json()["detail"]
    other = api.post(
        reverse("api:submission-final", args=[theirs.pk]),
        {"final": True},
        format="json",
    )
    assert other.status_code == 403 and "only your own" in other.json()["detail"]
    bad = api.post(url, {"final": "perhaps"}, format="json")
    assert bad.status_code == 400 and "final" in bad.json()
    theirs.refresh_from_db()
    another.refresh_from_db()
    assert theirs.final_at is None and another.final_at is None


def test_private_accuracy_stays_hidden_from_participants_until_close(
    participant_client, participant, cnn, make_graded
):
    """Pages and API alike: no private figure before the close, then both."""
    from tests.api.api_builders import token_client

    submission = make_graded(participant, cnn, public=0.9, private=0.777)
    pages = [
        reverse("leaderboard", args=[cnn.workshop.slug, cnn.slug]),
        reverse("leaderboard", args=[cnn.workshop.slug, cnn.slug]) + "?part=private",
        reverse("submission-detail", args=[submission.pk]),
    ]
    api = token_client(participant)
    api_urls = [
        reverse("api:leaderboard", args=[cnn.workshop.slug, cnn.slug]),
        reverse("api:submission-grade", args=[submission.pk]),
    ]
    for url in pages:
        assert "77.7%" not in participant_client.get(url).content.decode()
    for url in api_urls:
        assert "0.777" not in api.get(url).content.decode()
    cnn.closed = True
    cnn.save()
    assert "77.7%" in participant_client.get(pages[0]).content.decode()
    assert "0.777" in api.get(api_urls[0]).content.decode()


def test_settings_service_refuses_a_final_limit_out_of_range(cnn):
    """The service names the field, whatever form called it."""
    from workshops.services import assignment_update_settings

    for value in (0, 11):
        with pytest.raises(ValidationError) as refused:
            assignment_update_settings(
                assignment=cnn,
                daily_limit=5,
                score_policy="best",
                reveal_private=False,
                released=True,
                closed=False,
                final_limit=value,
            )
        assert "final_limit" in refused.value.message_dict
    cnn.refresh_from_db()
    assert cnn.final_limit == 2


def test_migration_fills_existing_standings_board_entries(
    participant, cnn, make_graded
):
    """Standings made before the board fields get them from the migration."""
    import importlib

    from django.apps import apps

    make_graded(participant, cnn, public=0.7, private=0.6)
    make_graded(participant, cnn, public=0.9, private=0.8)
    Standing.objects.update(
        public_submission=None,
        public_accuracy=None,
        private_submission=None,
        private_accuracy=None,
        public_at=None,
        private_at=None,
        public_passed_checks=False,
        private_passed_checks=False,
    )
    assert list(standings_check(assignments=[cnn]))
    migration = importlib.import_module(
        "submissions.migrations.0008_leaderboard_finals"
    )
    migration.fill_board_entries(apps, None)
    assert list(standings_check(assignments=[cnn])) == []
