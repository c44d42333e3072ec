"""Times a participant reads come from what this deployment measured (issue 28: 2)."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from checks.models import CheckRun, CheckStatus
from checks.services import check_run_create
from submissions.models import Run
from submissions.services.jobs import run_record
from tests.api.api_builders import graded, use_fresh_cache
from workers.sandbox import Outcome, SandboxResult
from workspace import timings

pytestmark = pytest.mark.django_db

# What the pack said before: figures written by hand, true of one machine once.
HAND_WRITTEN = ("136 s", "about 20 s", "in seconds", "load 12", "load about")


@pytest.fixture(autouse=True)
def fresh_cache(settings):
    use_fresh_cache(settings)
    cache.clear()


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _trained(user, assignment, seconds: float, outcome=Outcome.OK) -> None:
    submission, _ = graded(user, assignment)
    run = submission.runs.get(kind=Run.Kind.TRAIN)
    run_record(
        run=run,
        result=SandboxResult(
            outcome=outcome,
            exit_code=0,
            wall_seconds=seconds,
            cpu_seconds=seconds / 2,
            peak_memory_bytes=None,
            log="",
            log_truncated=False,
            backend="bwrap",
        ),
    )


def test_with_nothing_measured_the_pages_say_so(participant, workshop, outbox):
    hello = workshop.assignments.get(slug="hello")
    page = _client(participant).get(hello.get_absolute_url()).content.decode()
    assert "Training time on this site: <strong>no runs measured yet</strong>" in page
    assert "no check runs measured on this site yet" in page
    assert "the limit is 5 min of training" in page
    agenda = _client(participant).get(workshop.get_absolute_url()).content.decode()
    assert "Training time: no runs measured yet" in agenda
    for text in HAND_WRITTEN:
        assert text not in page and text not in agenda, text


def test_pages_show_the_median_of_recent_runs_here(
    participant, other_participant, workshop, outbox
):
    hello = workshop.assignments.get(slug="hello")
    for seconds in (30.0, 59.0, 200.0):
        _trained(participant, hello, seconds)
    # A run that failed says nothing about how long a training takes.
    _trained(other_participant, hello, 999.0, outcome=Outcome.TIMED_OUT)
    for seconds in (20.0, 24.0):
        check = check_run_create(
            participant=participant, assignment=hello, source="x = 1\n"
        )
        CheckRun.objects.filter(pk=check.pk).update(
            status=CheckStatus.PASSED,
            finished_at=check.created_at + timedelta(seconds=seconds),
        )
    page = _client(participant).get(hello.get_absolute_url()).content.decode()
    assert "a training has taken <strong>59 s</strong> (median of the last 3)" in page
    assert "a check has taken 22 s (median of the last 2)" in page
    agenda = _client(participant).get(workshop.get_absolute_url()).content.decode()
    assert "Training here: 59 s (median of the last 3)" in agenda


def test_the_figure_reads_a_bounded_sample_and_is_cached(
    participant, workshop, outbox, monkeypatch
):
    """However many runs are stored, one query reads at most SAMPLE rows, the
    newest; the next page within a minute reads none."""
    hello = workshop.assignments.get(slug="hello")
    monkeypatch.setattr(timings, "SAMPLE", 2)
    for seconds in (500.0, 40.0, 60.0):
        _trained(participant, hello, seconds)
    with CaptureQueriesContext(connection) as first:
        found = timings.training_time(assignment_id=hello.pk)
    assert found == timings.Timing(seconds=50.0, count=2)
    [query] = [q["sql"] for q in first.captured_queries]
    assert "LIMIT 2" in query
    _trained(participant, hello, 10.0)
    with CaptureQueriesContext(connection) as again:
        assert timings.training_time(assignment_id=hello.pk) == found
    assert not again.captured_queries


@pytest.mark.parametrize(
    "seconds, text",
    [(0.2, "1 s"), (59.4, "59 s"), (99, "99 s"), (150, "2 min"), (3900, "1 h 5 min")],
)
def test_durations_read_as_a_person_says_them(seconds, text):
    assert timings.duration_text(seconds) == text
