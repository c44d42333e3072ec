"""Faults injected on purpose into real processes: workers, brokers, databases.

Every case checks the same promises: no submission is lost, none is stuck
(breaking the reconciler's invariant) longer than grace plus one reconcile
interval once a worker is back, every grade is kept, and a refund (`error`)
is given only where the platform was at fault. Workers here run beat with
short intervals, set through the environment as an operator would.
"""

import time
from collections.abc import Callable, Iterable, Iterator

import pytest
from django.utils import timezone

from submissions.models import FINAL_STATUSES, Grade, Status, Submission
from submissions.services.reconcile import submission_health
from tests.helpers import WorkerProcess, wait_for

GRACE = 4
INTERVAL = 1
# A loaded 2-core machine may start a pass late; this bounds a test, not speed.
SLACK = 20
FAULT_ENV = {
    "DOJO_HEARTBEAT_GRACE_SECONDS": str(GRACE),
    "DOJO_RECONCILE_EVERY_SECONDS": str(INTERVAL),
    "DOJO_REQUEUE_AFTER_SECONDS": "2",
    "DOJO_LOG_FLUSH_SECONDS": "0.5",
}


@pytest.fixture(autouse=True)
def short_intervals(settings) -> None:
    """The test judges the invariant with the workers' own intervals."""
    settings.DOJO_HEARTBEAT_GRACE_SECONDS = GRACE
    settings.DOJO_RECONCILE_EVERY_SECONDS = INTERVAL
    settings.DOJO_REQUEUE_AFTER_SECONDS = 2


@pytest.fixture
def fault_worker(
    start_worker, _shared_worker
) -> Iterator[Callable[..., WorkerProcess]]:
    """Start workers with beat and short intervals, all gone after the test.

    The shared worker is stopped first, so a job can only land in a worker the
    test controls (and kills).
    """
    shared = _shared_worker.pop("worker", None)
    if shared is not None:
        shared.stop()
    mine: list[WorkerProcess] = []

    def start(*, concurrency: int = 1, **env: str) -> WorkerProcess:
        worker = start_worker(
            beat=True, env={**FAULT_ENV, **env}, concurrency=concurrency
        )
        mine.append(worker)
        return worker

    yield start
    for worker in mine:
        worker.kill()


def settle(rows: Iterable[Submission], *, timeout: float = 300) -> list[Submission]:
    """Wait until every row is final, failing if one stays stuck too long.

    Stuck means active and breaking the invariant (no live run, no message
    due); a row may be so for at most grace + one interval (+ slack).
    """
    rows = list(rows)
    broken_since: dict[int, float] = {}

    def all_final() -> bool:
        now = timezone.now()
        done = True
        for row in rows:
            row.refresh_from_db()
            if row.status in FINAL_STATUSES:
                broken_since.pop(row.pk, None)
                continue
            done = False
            health = submission_health(submission=row, now=now)
            if health.state != "broken":
                broken_since.pop(row.pk, None)
                continue
            since = broken_since.setdefault(row.pk, time.monotonic())
            stuck = time.monotonic() - since
            assert stuck <= GRACE + INTERVAL + SLACK, (
                f"submission {row.pk} stuck {stuck:.0f}s in {row.status}: {health.why}"
            )
        return done

    wait_for(all_final, timeout=timeout, every=0.5, what="every submission to end")
    return rows


def assert_promises(
    rows: Iterable[Submission], *, grades_before: Iterable[int] = ()
) -> None:
    """Nothing lost, every grade kept, and no participant charged for the fault."""
    rows = list(rows)
    for row in rows:
        row.refresh_from_db()
        assert row.status in FINAL_STATUSES, row
        assert row.status != Status.FAILED, (
            f"submission {row.pk} was charged for a platform fault: {row.status_reason}"
        )
        if row.status == Status.ERROR:
            assert "not your fault" in row.status_reason or "platform" in (
                row.status_reason
            )
    kept = set(Grade.objects.values_list("pk", flat=True))
    assert set(grades_before) <= kept, "a grade was lost"
