"""Check runs under the one reconciler: a lost worker's check is run again
while attempts remain (DOJO_MAX_ATTEMPTS), then ends `error`; a lost message is
sent again with backoff; a stopped worker's checks are handed back."""

import datetime

import pytest
from django.utils import timezone

from checks.models import CheckRun, CheckStatus
from checks.services import check_run_create
from jobs.reconcile import jobs_hand_back, jobs_reconcile

pytestmark = pytest.mark.django_db

GOOD = "import keras\nprint('training')\n"


@pytest.fixture
def mlp(workshop):
    return workshop.assignments.get(slug="mlp")


def _running(check: CheckRun, *, beat: datetime.datetime, **fields) -> None:
    CheckRun.objects.filter(pk=check.pk).update(
        status=CheckStatus.RUNNING, heartbeat_at=beat, **fields
    )


def test_a_check_whose_worker_died_runs_again_then_ends_error(
    participant, mlp, outbox, settings, django_capture_on_commit_callbacks
):
    """A running check without a heartbeat for the grace is queued again with a
    new token while it has attempts left, then ends `error` (the platform's
    fault); a live one is left alone."""
    settings.DOJO_MAX_ATTEMPTS = 2
    dead = check_run_create(participant=participant, assignment=mlp, source=GOOD)
    old = timezone.now() - datetime.timedelta(
        seconds=settings.DOJO_HEARTBEAT_GRACE_SECONDS + 5
    )
    first_token = dead.job_token
    _running(dead, beat=old, attempts=1, log="half")
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_reconcile()["requeued"] == 1
    dead.refresh_from_db()
    assert dead.status == CheckStatus.QUEUED and dead.log == ""
    assert dead.job_token != first_token
    assert outbox[-1]["args"] == [dead.pk, str(dead.job_token)]
    _running(dead, beat=old, attempts=2)
    assert jobs_reconcile()["errored"] == 1
    dead.refresh_from_db()
    assert dead.status == CheckStatus.ERROR
    assert "platform's fault" in dead.reason
    live = check_run_create(participant=participant, assignment=mlp, source=GOOD)
    _running(live, beat=timezone.now(), attempts=1)
    counts = jobs_reconcile()
    assert counts["requeued"] == counts["errored"] == 0


def test_a_queued_check_whose_message_is_lost_is_sent_again_with_backoff(
    participant, mlp, outbox, settings, django_capture_on_commit_callbacks
):
    """The same token again, each time after a longer wait (the one policy)."""
    check = check_run_create(participant=participant, assignment=mlp, source=GOOD)
    token = check.job_token
    requeue = settings.DOJO_REQUEUE_AFTER_SECONDS
    for sends in (1, 2, 3):
        wait = datetime.timedelta(seconds=requeue * 2**sends)
        early = timezone.now() - wait + datetime.timedelta(seconds=5)
        CheckRun.objects.filter(pk=check.pk).update(enqueued_at=early)
        assert jobs_reconcile()["resent"] == 0, "not before its backoff"
        late = timezone.now() - wait - datetime.timedelta(seconds=5)
        CheckRun.objects.filter(pk=check.pk).update(enqueued_at=late)
        with django_capture_on_commit_callbacks(execute=True):
            assert jobs_reconcile()["resent"] == 1
        check.refresh_from_db()
        assert check.sends == sends + 1 and check.job_token == token
        assert check.status == CheckStatus.QUEUED
    assert [m["args"] for m in outbox] == [[check.pk, str(token)]] * 3


def test_hand_back_queues_a_stopped_workers_checks_again(
    participant, other_participant, mlp, outbox, django_capture_on_commit_callbacks
):
    """`make run` stopping its check worker queues that worker's checks again
    with a fresh token, using no attempt; another worker's check is left alone."""
    mine = check_run_create(participant=participant, assignment=mlp, source=GOOD)
    other = check_run_create(participant=other_participant, assignment=mlp, source=GOOD)
    _running(mine, beat=timezone.now(), worker="check@here", log="half", attempts=1)
    _running(other, beat=timezone.now(), worker="check@there", attempts=1)
    old_token = mine.job_token
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_hand_back(worker="check@here") == 1
    mine.refresh_from_db()
    other.refresh_from_db()
    assert mine.status == CheckStatus.QUEUED and mine.log == ""
    assert mine.attempts == 0, "a stop by the operator uses no attempt"
    assert mine.job_token != old_token
    assert outbox[-1]["args"] == [mine.pk, str(mine.job_token)]
    assert other.status == CheckStatus.RUNNING
