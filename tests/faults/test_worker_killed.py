"""A worker SIGKILLed mid-job: the one reconciler brings every job back, of every
kind (a training, an evaluation, a regrade chunk, a check run)."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from checks.models import CheckRun, CheckStatus
from checks.services import check_run_create
from submissions.models import Grade, RegradeBatch, Run, Status
from submissions.services.intake import submission_create
from submissions.services.regrade import regrade_batch_create
from tests.faults.conftest import assert_promises, settle
from tests.helpers import ROOT, wait_for
from tests.model_builders import graded_with_model

pytestmark = [
    pytest.mark.faults,
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
]

MLP_SOLUTION = (ROOT / "assignments" / "dl101" / "mlp" / "solution.py").read_bytes()


def _open_run(kind: str, **filters) -> Run | None:
    return Run.objects.filter(kind=kind, finished_at__isnull=True, **filters).first()


def _kill_and_see_graded(
    worker, fault_worker, submission, kind: str, *, concurrency: int = 1
) -> None:
    """SIGKILL the worker, start another, and see the submission graded with
    its lost run ended by the reconciler."""
    worker.kill()
    fault_worker(concurrency=concurrency)
    (submission,) = settle([submission])
    assert submission.status == Status.GRADED, submission.status_reason
    lost = submission.runs.get(kind=kind, outcome="worker_lost")
    assert lost.finished_at is not None
    assert_promises([submission])


def test_worker_killed_mid_training_and_mid_check_hands_both_back(
    fault_worker, participant, other_participant, workshop
):
    """One worker runs a training and a check run at once and is SIGKILLed in
    the middle of both: the one reconciler (beat on the next worker) ends the
    lost training run and hands both jobs back; each runs again to its end."""
    mlp = workshop.assignments.get(slug="mlp")
    worker = fault_worker(concurrency=2)
    submission = submission_create(
        participant=participant,
        assignment=mlp,
        upload=SimpleUploadedFile("train.py", MLP_SOLUTION),
    )
    check = check_run_create(
        participant=other_participant,
        assignment=mlp,
        source=MLP_SOLUTION.decode(),
    )
    first_token = check.job_token
    wait_for(
        lambda: (
            _open_run(Run.Kind.TRAIN, log__contains="Epoch")
            and CheckRun.objects.filter(
                pk=check.pk, status=CheckStatus.RUNNING, log__contains="Epoch"
            ).exists()
        ),
        timeout=240,
        what="the training and the check to be under way",
    )
    # Two jobs come back at once: the next worker has a slot for each, as the
    # killed one had. With one slot the handed-back check held it for its
    # whole run, and the reconciler's passes (on the same worker's `site`
    # queue) waited behind it while the training's resent message went
    # overdue: the training was left with no live run and no pass to mend it.
    _kill_and_see_graded(
        worker, fault_worker, submission, Run.Kind.TRAIN, concurrency=2
    )
    wait_for(
        lambda: not CheckRun.objects.get(pk=check.pk).is_active,
        timeout=300,
        what="the handed-back check to finish",
    )
    check.refresh_from_db()
    assert check.status == CheckStatus.PASSED, (check.reason, check.log)
    assert check.attempts == 2 and check.job_token != first_token


def test_worker_killed_mid_evaluation_and_the_submission_is_graded(
    fault_worker, participant, workshop
):
    worker = fault_worker()
    submission = submission_create(
        participant=participant,
        assignment=workshop.assignments.get(slug="mlp"),
        upload=SimpleUploadedFile("train.py", MLP_SOLUTION),
    )
    wait_for(
        lambda: _open_run(Run.Kind.EVALUATE, submission=submission),
        timeout=240,
        what="the evaluation to start",
    )
    _kill_and_see_graded(worker, fault_worker, submission, Run.Kind.EVALUATE)


def test_worker_killed_mid_regrade_chunk_keeps_every_grade(
    fault_worker, participant, workshop, instructor
):
    mlp = workshop.assignments.get(slug="mlp")
    rows = [graded_with_model(participant, mlp) for _ in range(4)]
    grades_before = list(Grade.objects.values_list("pk", flat=True))
    worker = fault_worker()
    batch = regrade_batch_create(assignment=mlp, mode="reevaluate")
    wait_for(
        lambda: (
            Run.objects.filter(kind=Run.Kind.EVALUATE, submission__batch=batch).count()
            == len(rows)
        ),
        timeout=120,
        what="the chunk to claim its models",
    )
    worker.kill()
    fault_worker()
    rows = settle(rows)
    assert_promises(rows, grades_before=grades_before)
    for row in rows:
        assert row.status == Status.GRADED, row.status_reason
        assert row.grades.count() >= 2, "the old grade is kept beside the new one"
    batch.refresh_from_db()
    wait_for(
        lambda: RegradeBatch.objects.get(pk=batch.pk).state == "done",
        timeout=30,
        what="the batch to close",
    )
    assert Path(rows[0].runs.get(kind=Run.Kind.TRAIN).artifact_path).is_file()
