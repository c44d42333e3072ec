"""One submission travels the whole path: upload, real worker, sandbox, grade."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from dashboard.validation import validation_graded
from submissions.models import Run, Standing, Status, Submission
from submissions.services.intake import submission_create
from submissions.services.reference import reference_submission_create
from tests.assignments.conftest import SLICE_ACCURACY
from tests.helpers import wait_for
from workshops.packs import assignment_solution

ROOT = Path(__file__).resolve().parents[2]
MLP_SOLUTION = (ROOT / "assignments" / "dl101" / "mlp" / "solution.py").read_bytes()

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _submit(participant, assignment, code: bytes, name: str = "train.py"):
    return submission_create(
        participant=participant,
        assignment=assignment,
        upload=SimpleUploadedFile(name, code),
    )


def _final(submission: Submission, timeout: float = 180) -> Submission:
    def done():
        submission.refresh_from_db()
        return submission.status in (
            Status.GRADED,
            Status.FAILED,
            Status.ERROR,
            Status.CANCELLED,
        )

    wait_for(done, timeout=timeout, what=f"submission {submission.pk} to finish")
    return submission


def _assert_reference_graded(submission: Submission, assignment, slug: str) -> None:
    """The reference of ``slug`` trained in the sandbox and passed, fully recorded."""
    assert submission.status == Status.GRADED, submission.status_reason
    grade = submission.current_grade
    assert grade.public_accuracy >= SLICE_ACCURACY[slug]
    assert grade.private_accuracy is not None
    assert grade.score > 0
    assert grade.passed_checks
    assert grade.report["misclassified"], "the gallery's images are kept"
    assert grade.spec_version == assignment.spec_version
    assert grade.report["history"]["loss"], "the training curve is kept"
    runs = list(submission.runs.order_by("started_at"))
    assert [r.kind for r in runs] == [Run.Kind.TRAIN, Run.Kind.EVALUATE]
    train = runs[0]
    assert Path(train.artifact_path).is_file()
    assert train.outcome == "ok" and train.host and train.keras_backend
    # Reported by the job from inside its sandbox: this machine has no GPU.
    assert (train.device, train.on_gpu, train.slot) == ("CPU", False, 0)
    assert train.isolation.startswith("cgroup v1")
    assert "Epoch" in train.log


@pytest.mark.parametrize("slug", ["cnn", "transfer"])
def test_reference_solution_is_trained_and_graded(
    celery_worker, instructor, workshop, slug
):
    """Each reference, validated by the instructor, trains in the sandbox on
    Fashion-MNIST and passes (the MLP's is the first submission of the batch
    regrade test below, a participant's); the validation shows its score and
    times, and no standing is made of it.

    The suite keeps a slice of the data (config.settings.test), so accuracy is
    below the full-data figures in the instructions (bench/references.py).
    """
    assignment = workshop.assignments.get(slug=slug)
    assert assignment.spec["dataset"]["source"] == "fashion-mnist"
    # Validate's full grading (its check run is tests/e2e/test_check_runs.py's).
    submission = reference_submission_create(
        instructor=instructor,
        assignment=assignment,
        source=assignment_solution(assignment),
    )
    assert submission.reference
    submission = _final(submission)
    _assert_reference_graded(submission, assignment, slug)
    shown = validation_graded(assignment=assignment)
    assert shown["submission"] == submission and shown["current"]
    assert shown["score"] == submission.current_grade.score
    assert shown["training_seconds"] > 0 and shown["grading_seconds"] > 0
    assert not Standing.objects.filter(assignment=assignment).exists()


def test_code_that_raises_ends_failed_with_the_error(
    celery_worker, participant, workshop
):
    """A crash is the participant's fault: failed, with the traceback's last line."""
    mlp = workshop.assignments.get(slug="mlp")
    code = b"def train():\n    raise ValueError('learning rate must be positive')\n"
    code += b"train()\n"
    submission = _final(_submit(participant, mlp, code))
    assert submission.status == Status.FAILED
    assert "ValueError: learning rate must be positive" in submission.status_reason
    assert "Traceback" in submission.runs.get().log


def test_code_that_saves_no_model_is_told_how(celery_worker, participant, workshop):
    mlp = workshop.assignments.get(slug="mlp")
    submission = _final(_submit(participant, mlp, b"print('forgot to save')\n"))
    assert submission.status == Status.FAILED
    assert "DOJO_OUTPUT_DIR" in submission.status_reason


def test_log_streams_while_running_and_cancel_stops_it(
    celery_worker, participant, workshop
):
    """The log grows in the database during the run; cancel ends it `cancelled`."""
    from submissions.services.lifecycle import submission_cancel

    mlp = workshop.assignments.get(slug="mlp")
    code = b"import time\nfor i in range(600):\n    print('step', i)\n"
    code += b"    time.sleep(0.2)\n"
    submission = _submit(participant, mlp, code)
    wait_for(
        lambda: Run.objects.filter(
            submission=submission, log__contains="step 3"
        ).exists(),
        timeout=60,
        what="the log to stream",
    )
    submission_cancel(submission=submission)
    submission = _final(submission, timeout=15)
    assert submission.status == Status.CANCELLED
    assert submission.runs.get().outcome == "cancelled"


def test_killed_worker_is_recovered_by_the_reconciler(
    start_worker, participant, workshop
):
    """SIGKILL of the worker mid-run: beat requeues the job and it completes."""
    mlp = workshop.assignments.get(slug="mlp")
    code = b"import time\ntime.sleep(6)\n" + MLP_SOLUTION
    start_worker()
    submission = _submit(participant, mlp, code)
    run = wait_for(
        lambda: Run.objects.filter(submission=submission).first(),
        timeout=60,
        what="training to start",
    )
    # Whichever worker took the job (the shared one may have) dies without warning.
    next(w for w in start_worker.started if w.name == run.worker).kill()
    second = start_worker(
        beat=True,
        env={
            "DOJO_HEARTBEAT_GRACE_SECONDS": "3",
            "DOJO_RECONCILE_EVERY_SECONDS": "1",
            "DOJO_REQUEUE_AFTER_SECONDS": "2",
        },
    )
    try:
        submission = _final(submission, timeout=180)
    finally:
        second.stop()
    assert submission.status == Status.GRADED, submission.status_reason
    runs = list(submission.runs.filter(kind=Run.Kind.TRAIN).order_by("started_at"))
    assert runs[0].outcome == "worker_lost"
    assert runs[-1].outcome == "ok"


def test_worker_refuses_to_start_without_a_usable_sandbox(start_worker):
    """A misconfigured host fails loudly at start, never runs code unconfined."""
    with pytest.raises(RuntimeError, match="Unknown sandbox backend 'nsjail'"):
        start_worker(env={"DOJO_SANDBOX_BACKEND": "nsjail"})


def test_batch_regrade_reevaluates_then_reruns_keeping_history(
    celery_worker, participant, workshop, instructor
):
    """Re-evaluate reuses the stored model; rerun retrains; every grade is kept."""
    from submissions.models import RegradeBatch
    from submissions.selectors import regrade_batch_progress
    from submissions.services.regrade import regrade_batch_create

    mlp = workshop.assignments.get(slug="mlp")
    assert mlp.spec["dataset"]["source"] == "fashion-mnist"
    submission = _final(_submit(participant, mlp, MLP_SOLUTION))
    _assert_reference_graded(submission, mlp, "mlp")
    first_grade = submission.current_grade

    def finished(batch: RegradeBatch):
        batch.refresh_from_db()
        return batch.state == RegradeBatch.State.DONE

    batch = regrade_batch_create(
        assignment=mlp, mode="reevaluate", created_by=instructor
    )
    wait_for(lambda: finished(batch), timeout=120, what="the re-evaluation")
    assert regrade_batch_progress(batch=batch)["percent"] == 100
    submission.refresh_from_db()
    assert submission.status == Status.GRADED
    assert submission.grades.count() == 2
    assert submission.current_grade != first_grade
    assert submission.runs.filter(kind=Run.Kind.TRAIN).count() == 1

    batch = regrade_batch_create(assignment=mlp, mode="rerun", created_by=instructor)
    wait_for(lambda: finished(batch), timeout=180, what="the rerun")
    submission.refresh_from_db()
    assert submission.status == Status.GRADED
    assert submission.grades.count() == 3
    assert submission.runs.filter(kind=Run.Kind.TRAIN).count() == 2
    assert first_grade.pk in submission.grades.values_list("pk", flat=True)
    # The worker processes kept the standing current at each step.
    from django.core.management import call_command

    from submissions.models import Standing

    call_command("standings_check")
    standing = Standing.objects.get(participant=participant, assignment=mlp)
    assert (standing.graded, standing.attempts, standing.progress) == (1, 1, "passed")


def test_hostile_history_and_log_never_cost_the_grade(
    celery_worker, participant, workshop
):
    """The issue's case: a history nested 100,000 deep left the row evaluating.

    Now the model is graded, the curve is left out with a note, and a NUL the
    code printed reaches the stored log as a replacement character.
    """
    mlp = workshop.assignments.get(slug="mlp")
    code = MLP_SOLUTION + (
        b"\n(OUTPUT_DIR / 'history.json').write_text('[' * 100000 + ']' * 100000)\n"
        b"print('nul:\\x00:end')\n"
    )
    submission = _final(_submit(participant, mlp, code))
    assert submission.status == Status.GRADED, submission.status_reason
    report = submission.current_grade.report
    assert "history" not in report
    assert "nested deeper" in report["history_note"]
    assert "nul:\u2400:end" in submission.runs.get(kind=Run.Kind.TRAIN).log
