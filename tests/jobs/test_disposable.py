"""A disposable job (one with a window: a prediction) under the one reconciler:
never sent or run again; over once nobody can claim it or its worker is lost,
but never while its window lasts."""

import datetime

import pytest
from django.utils import timezone

from jobs.policy import job_may_retry
from jobs.reconcile import EXPIRED, LOST, JobState, job_health

NOW = timezone.now()
SECOND = datetime.timedelta(seconds=1)


def _job(*, expires_in: float, beat_ago: float | None = None) -> JobState:
    claimed = beat_ago is not None
    return JobState(
        created_at=NOW - 5 * SECOND,
        enqueued_at=NOW - 5 * SECOND,
        sends=1,
        attempts=int(claimed),
        claimed=claimed,
        has_run=claimed,
        heartbeat_at=NOW - beat_ago * SECOND if claimed else None,
        expires_at=NOW + expires_in * SECOND,
    )


@pytest.fixture(autouse=True)
def grace(settings):
    settings.DOJO_HEARTBEAT_GRACE_SECONDS = 60
    settings.DOJO_REQUEUE_AFTER_SECONDS = 1


@pytest.mark.parametrize(
    ("job", "state", "repair", "why"),
    [
        # Waiting inside its window: due, even past the resend backoff.
        (_job(expires_in=10), "due", "", ""),
        # Nobody claimed it in its window: over, never resent.
        (_job(expires_in=-1), "broken", "expire", EXPIRED),
        # Claimed and beating.
        (_job(expires_in=-1, beat_ago=1), "live", "", ""),
        # No beat for the grace, but its window lasts (a predictor starting
        # cold may work longer than the grace): left alone.
        (_job(expires_in=10, beat_ago=120), "live", "", ""),
        # No beat for the grace and its window over: its worker is lost.
        (_job(expires_in=-1, beat_ago=120), "broken", "requeue", LOST),
    ],
    ids=["waiting", "expired", "beating", "cold-start", "lost"],
)
def test_a_disposable_jobs_health(job, state, repair, why):
    health = job_health(job=job, now=NOW)
    assert (health.state, health.repair, health.why) == (state, repair, why)


def test_a_disposable_job_is_never_run_again(settings):
    settings.DOJO_MAX_ATTEMPTS = 3
    assert job_may_retry(attempts=1)
    assert not job_may_retry(attempts=1, disposable=True)
    assert not job_may_retry(attempts=0, disposable=True)
