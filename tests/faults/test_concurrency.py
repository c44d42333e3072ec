"""Concurrent writers on PostgreSQL: uploads and state changes at once.

Real threads, each on its own connection, as gunicorn's workers and the
Celery workers are. On PostgreSQL (never SQLite, which serialises writers).
"""

import threading
from collections.abc import Callable

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections

from accounts.services import user_ensure
from jobs.outcome import JobOutcome
from submissions.models import Run, Status, Submission
from submissions.services import intake
from submissions.services.intake import submission_create
from submissions.services.jobs import job_apply, job_claim
from submissions.services.lifecycle import submission_enqueue
from submissions.services.standings import standings_check
from workshops.models import Assignment
from workshops.services import enrollment_add

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def on_postgresql(db) -> None:
    assert connection.vendor == "postgresql", (
        "These cases need PostgreSQL: set DATABASE_URL (make faults does)."
    )


def _together(work: list[Callable[[], object]]) -> list[object]:
    """Run each callable in its own thread, all released at once; return results.

    A result is what the callable returned or the exception it raised.
    """
    start = threading.Barrier(len(work))
    results: list[object] = [None] * len(work)

    def run(index: int) -> None:
        try:
            start.wait()
            results[index] = work[index]()
        except BaseException as exc:  # noqa: BLE001 - the test judges each one
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a writer hung"
    return results


def _upload(participant, assignment) -> Callable[[], Submission]:
    return lambda: submission_create(
        participant=participant,
        assignment=assignment,
        upload=SimpleUploadedFile("train.py", b"print('hi')\n"),
    )


def test_the_daily_limit_holds_with_12_concurrent_uploads(
    participant, workshop, outbox
):
    """Twelve uploads by one participant at once: exactly the limit is kept."""
    mlp = workshop.assignments.get(slug="mlp")
    Assignment.objects.filter(pk=mlp.pk).update(daily_limit=3)
    mlp.refresh_from_db()
    results = _together([_upload(participant, mlp) for _ in range(12)])
    kept = [r for r in results if isinstance(r, Submission)]
    refused = [r for r in results if isinstance(r, ValidationError)]
    assert len(kept) == 3, results
    assert len(refused) == 9, results
    assert all("all 3 submissions" in str(r) for r in refused)
    assert Submission.objects.filter(assignment=mlp).count() == 3


def _life(participant, assignment) -> Callable[[], int]:
    """Upload twice; take each through a claim to an outcome, as a worker would."""

    def run() -> int:
        for attempt in range(2):
            submission = _upload(participant, assignment)()
            submission_enqueue(submission_id=submission.pk)
            submission.refresh_from_db()
            run = job_claim(
                submission_id=submission.pk,
                job_token=str(submission.job_token),
                kind=Run.Kind.TRAIN,
                expect=Status.QUEUED,
                worker="w@host",
                queue="train-cpu",
            )
            assert run is not None
            outcome = (
                JobOutcome.failed(reason="Your code stopped: boom.")
                if attempt
                else JobOutcome.error(detail="a test fault")
            )
            job_apply(run=run, outcome=outcome)
        return 2

    return run


def test_uploads_and_state_changes_at_once_neither_deadlock_nor_go_stale(
    workshop, outbox
):
    """Twelve participants upload and finish jobs on one assignment at once: no
    error reaches anyone, no commit needed a retry, and every standing equals a
    recomputation from scratch."""
    mlp = workshop.assignments.get(slug="mlp")
    people = []
    for n in range(12):
        user = user_ensure(username=f"p{n}", password=f"p{n}-pass-123456")
        enrollment_add(workshop=workshop, user=user)
        people.append(user)
    before = intake.COMMIT_RETRIES["count"]
    results = _together([_life(user, mlp) for user in people])
    assert results == [2] * len(people)
    assert intake.COMMIT_RETRIES["count"] == before
    assert list(standings_check(assignments=[mlp])) == []
    statuses = set(
        Submission.objects.filter(assignment=mlp).values_list("status", flat=True)
    )
    assert statuses == {Status.ERROR, Status.FAILED}
