"""Class-scale pages run the same number of SQL queries for 3 or 12 participants."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.services import user_ensure
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


def _counts(client, instructor, participant, workshop) -> dict[str, int]:
    cnn = workshop.assignments.get(slug="cnn")
    # The measured times pages quote are cached per workshop for a minute; a
    # miss costs two bounded queries per assignment, never per participant
    # (tests/workspace/test_timings.py). Pages are measured with them cached.
    workshop_timings(workshop_id=workshop.pk)
    client.force_login(instructor)
    counts = {
        "leaderboard": _count(
            client, reverse("leaderboard", args=[workshop.slug, "cnn"])
        ),
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
    client, workshop, instructor, make_graded, make_failed, make_submission
):
    _seed(workshop, 3, make_graded, make_failed, make_submission)
    from django.contrib.auth.models import User

    participant = User.objects.get(username="p00")
    small = _counts(client, instructor, participant, workshop)
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
    large = _counts(client, instructor, participant, workshop)
    assert small == large
    assert max(large.values()) <= 12, large
