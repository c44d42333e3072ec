"""A check's training in-process: the job package's training sandbox and warm
spare (kind CHECK_TRAIN), with the check's own fallback when its spare died.

Real sandboxes, the real check service; check spares on (their default). That
the next check runs warm in its spare is proven end to end, with a real
worker (tests/e2e/test_check_runs.py).
"""

import os
import signal

import pytest

from checks import training
from checks.execution import check_run_execute
from checks.models import CheckRun, CheckStatus
from checks.services import check_run_create
from jobs.spare_policy import SpareKind, slot_spare, spares_discard
from tests.helpers import wait_for

# Spares start only when nothing waits: each test starts from empty queues.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_queues")]

# Says whether its sandbox had Keras imported ahead of it; saves no model.
CODE = 'import sys\nprint("WARM" if "keras" in sys.modules else "COLD", flush=True)\n'


@pytest.fixture
def check_spares(settings, outbox):
    settings.DOJO_CHECK_SPARES = True
    spares_discard()
    yield
    spares_discard()


def _check(participant, workshop) -> CheckRun:
    """Run one check of CODE in this process, as the check worker would."""
    mlp = workshop.assignments.get(slug="mlp")
    check = check_run_create(participant=participant, assignment=mlp, source=CODE)
    check_run_execute(check_id=check.pk, job_token=str(check.job_token), worker="w@h")
    check.refresh_from_db()
    assert check.status == CheckStatus.FAILED, (check.reason, check.log)
    assert "saved no usable model" in check.reason
    return check


def test_a_check_whose_spare_died_while_waiting_runs_cold(
    participant, workshop, check_spares, monkeypatch
):
    """A check leaves a training spare that the next check of its assignment
    takes (planned alike); one that dies between being taken and being handed
    the job costs the check nothing: it runs cold, to the same ending (a
    submission's training would end as the platform's fault)."""
    _check(participant, workshop)
    taken = []

    def take_then_die(**kwargs):
        spare = take(**kwargs)
        assert spare is not None
        os.kill(spare.pid, signal.SIGKILL)
        wait_for(lambda: not spare.alive(), timeout=30, what="the spare to die")
        taken.append(spare)
        return spare

    take = training.training_spare_take
    spare = slot_spare(kind=SpareKind.CHECK_TRAIN)
    assert spare is not None
    wait_for(spare.ready, timeout=300, what="the check spare to be warm")
    monkeypatch.setattr(training, "training_spare_take", take_then_die)
    check = _check(participant, workshop)
    assert taken, "the check never took its spare"
    assert "COLD" in check.log and check.warm_start is False, check.log
    assert not any(folder.exists() for folder in taken[0].owned)
