"""Times a participant reads come from what this deployment measured (issue 28: 2)."""

import re
from datetime import timedelta
from pathlib import Path

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
HAND_WRITTEN = (
    "136 s",
    "about 20 s",
    "a submission)",
    "in seconds",
    "load 12",
    "load about",
)


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


def _cold(workshop) -> tuple[dict, list[str]]:
    cache.clear()
    with CaptureQueriesContext(connection) as queries:
        found = timings.workshop_timings(workshop_id=workshop.pk)
    return found, [q["sql"] for q in queries.captured_queries]


def test_the_figures_read_a_bounded_sample_and_are_cached(
    participant, workshop, outbox, monkeypatch
):
    """However many runs are stored, a miss reads at most SAMPLE rows of each
    assignment, the newest, in a fixed number of queries; a page within the
    minute after reads none."""
    hello = workshop.assignments.get(slug="hello")
    monkeypatch.setattr(timings, "SAMPLE", 2)
    for seconds in (500.0, 40.0, 60.0):
        _trained(participant, hello, seconds)
    found, first = _cold(workshop)
    assert found[hello.pk]["training"] == timings.Timing(seconds=50.0, count=2)
    reads = [q for q in first if "LIMIT 2" in q]
    assert len(reads) == 2 * workshop.assignments.count()
    for seconds in (10.0, 20.0, 30.0):
        _trained(participant, hello, seconds)
    with CaptureQueriesContext(connection) as warm:
        assert timings.workshop_timings(workshop_id=workshop.pk) == found
    assert not warm.captured_queries
    again, second = _cold(workshop)
    assert again[hello.pk]["training"] == timings.Timing(seconds=25.0, count=2)
    assert len(second) == len(first)


@pytest.mark.parametrize(
    "seconds, text",
    [(0.2, "1 s"), (59.4, "59 s"), (99, "99 s"), (150, "2 min"), (3900, "1 h 5 min")],
)
def test_durations_read_as_a_person_says_them(seconds, text):
    assert timings.duration_text(seconds) == text


PACKS = Path(__file__).resolve().parents[2] / "assignments"
# How a hand-written time or a developer's note reads in a pack's text.
WRITTEN_TIME = re.compile(
    r"\btraining (about |takes )?\d+ ?(s|min)|\d+ s a submission|load about|bench/"
)


def test_no_pack_writes_times_or_developer_commands_for_participants():
    """Every pack's agenda and instructions leave times to what the site
    measured, and name no bench or build command (issue 28: 2, 3)."""
    texts = [*PACKS.glob("*/manifest.json"), *PACKS.glob("*/*/instructions.md")]
    assert len(texts) >= 10, texts  # both packs are read
    found = [
        f"{path.relative_to(PACKS)}: {match.group(0)!r}"
        for path in texts
        for match in WRITTEN_TIME.finditer(path.read_text())
    ]
    assert not found, found
