"""Class-scale pages run the same number of SQL queries for 3 or 12 participants."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.services import user_ensure
from workshops.boards import board_version, board_version_bump
from workshops.services import enrollment_add
from workspace.timings import workshop_timings

pytestmark = pytest.mark.django_db


def _seed(workshop, count, make_graded, make_failed, make_submission):
    for i in range(count):
        user = user_ensure(username=f"p{i:02d}", password="pass-12345")
        enrollment_add(workshop=workshop, user=user)
        for slug in ("mlp", "cnn"):
            assignment = workshop.assignments.get(slug=slug)
            make_graded(user, assignment, score=50 + i)
            make_graded(user, assignment, score=40 + i, passed=False)
            make_failed(user, assignment)
        make_submission(user, workshop.assignments.get(slug="transfer"))


def _count(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
        assert response.status_code == 200
        if response.streaming:
            b"".join(response.streaming_content)
    return len(queries)


def _standing_reads(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return sum('"submissions_standing"' in q["sql"] for q in queries.captured_queries)


def _counts(client, instructor, participant, workshop, commit) -> dict[str, int]:
    cnn = workshop.assignments.get(slug="cnn")
    # The measured times pages quote are cached per workshop for a minute; a
    # miss costs two bounded queries per assignment, never per participant
    # (tests/workspace/test_timings.py). Pages are measured with them cached.
    workshop_timings(workshop_id=workshop.pk)
    client.force_login(instructor)
    board = reverse("leaderboard", args=[workshop.slug, "cnn"])
    # The ranked rows are cached until the board changes (dashboard/
    # board_cache.py): measured once computed (a change committed just before)
    # and once served from the cache.
    board_version(workshop_id=workshop.pk)  # made on the first load
    with commit(execute=True):
        board_version_bump(workshop_ids=[workshop.pk])
    counts = {
        "leaderboard": _count(client, board),
        "leaderboard_warm": _count(client, board),
        "leaderboard_warm_standing_reads": _standing_reads(client, board),
        "dashboard": _count(client, reverse("dashboard", args=[workshop.slug])),
        "dashboard_failed": _count(
            client, reverse("dashboard", args=[workshop.slug]) + "?status=failed"
        ),
        "dashboard_not_started": _count(
            client,
            reverse("dashboard", args=[workshop.slug]) + "?status=not-started&page=2",
        ),
        "submissions_csv": _count(
            client, reverse("export-submissions", args=[workshop.slug])
        ),
        "stats": _count(
            client, reverse("assignment-stats", args=[workshop.slug, "cnn"])
        ),
        "grades_csv": _count(client, reverse("export-grades", args=[workshop.slug])),
        "leaderboard_csv": _count(
            client, reverse("export-leaderboard", args=[workshop.slug, "cnn"])
        ),
    }
    client.force_login(participant)
    counts["assignment_page"] = _count(client, cnn.get_absolute_url())
    counts["workshop_page"] = _count(client, workshop.get_absolute_url())
    return counts


def test_query_counts_do_not_grow_with_participants(
    client,
    workshop,
    instructor,
    make_graded,
    make_failed,
    make_submission,
    django_capture_on_commit_callbacks,
):
    """The same queries for 3 or 12 participants; a leaderboard served from its
    cache reads no standing at all."""
    _seed(workshop, 3, make_graded, make_failed, make_submission)
    from django.contrib.auth.models import User

    participant = User.objects.get(username="p00")
    commit = django_capture_on_commit_callbacks
    small = _counts(client, instructor, participant, workshop, commit)
    _seed_more = [
        user_ensure(username=f"q{i:02d}", password="pass-12345") for i in range(9)
    ]
    for i, user in enumerate(_seed_more):
        enrollment_add(workshop=workshop, user=user)
        for slug in ("mlp", "cnn"):
            assignment = workshop.assignments.get(slug=slug)
            make_graded(user, assignment, score=60 + i)
            make_failed(user, assignment)
    # ...and more submissions for the measured participant too.
    make_graded(participant, workshop.assignments.get(slug="cnn"), score=99)
    large = _counts(client, instructor, participant, workshop, commit)
    assert small == large
    # Computing the leaderboard also stores it: on the database cache (no
    # REDIS_URL, as here) that is a few statements per entry.
    cold = large.pop("leaderboard")
    assert max(large.values()) <= 12, large
    assert large["leaderboard_warm_standing_reads"] == 0
    assert large["leaderboard_warm"] < cold, (cold, large)


def _data_queries(queries) -> int:
    """Count the statements that read or write rows (not BEGIN, SAVEPOINT...)."""
    verbs = ("SELECT", "INSERT", "UPDATE", "DELETE")
    return sum(1 for q in queries.captured_queries if q["sql"].startswith(verbs))


def test_an_upload_costs_a_fixed_number_of_queries(
    workshop,
    participant,
    outbox,
    make_graded,
    make_failed,
    django_capture_on_commit_callbacks,
    settings,
):
    """An upload through the API, its queueing included, runs at most 16 queries,
    however many submissions its participant and the class already have: the
    standing is refreshed once, and the move to queued writes two fields."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from tests.api.api_builders import use_fresh_cache

    # The rate limit's counter lives in the cache: Redis in production, rows
    # of the database cache here without REDIS_URL. Keep it out of the count.
    use_fresh_cache(settings)
    mlp = workshop.assignments.get(slug="mlp")
    make_graded(participant, mlp, score=60)
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=participant)[0]}"
    )

    def upload() -> int:
        with (
            CaptureQueriesContext(connection) as queries,
            django_capture_on_commit_callbacks(execute=True),
        ):
            response = client.post(
                reverse("api:submission-list"),
                {"assignment": "mlp", "file": SimpleUploadedFile("t.py", b"x = 1\n")},
                format="multipart",
            )
        assert response.status_code == 201, response.content
        assert response.json()["status"] == "received"
        return _data_queries(queries)

    first = upload()
    assert outbox[-1]["queue"] == mlp.train_queue
    _seed(workshop, 3, make_graded, make_failed, make_graded)
    make_graded(participant, mlp, score=70)
    make_failed(participant, mlp)
    assert upload() == first <= 16, first


def test_an_upload_names_the_workshop_where_two_have_the_assignment(
    workshop, participant, other_workshop, outbox
):
    """Without workshop=, an assignment slug two of my workshops share is refused
    with both workshops named; naming one submits to it."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    copy = workshop.assignments.get(slug="mlp")
    copy.pk = None
    copy.workshop = other_workshop
    copy.save()
    enrollment_add(workshop=other_workshop, user=participant)
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=participant)[0]}"
    )
    url = reverse("api:submission-list")
    refused = client.post(
        url,
        {"assignment": "mlp", "file": SimpleUploadedFile("t.py", b"x = 1\n")},
        format="multipart",
    )
    assert refused.status_code == 400
    assert "workshop= (one of: dl101, other)" in refused.json()["detail"]
    taken = client.post(
        url,
        {
            "workshop": "other",
            "assignment": "mlp",
            "file": SimpleUploadedFile("t.py", b"x = 1\n"),
        },
        format="multipart",
    )
    assert taken.status_code == 201, taken.content
    assert taken.json()["workshop"] == "other"
