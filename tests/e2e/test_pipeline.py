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


def test_worker_refuses_to_start_without_a_usable_sandbox(start_worker):
    """A misconfigured host fails loudly at start, never runs code unconfined."""
    with pytest.raises(RuntimeError, match="Unknown sandbox backend 'nsjail'"):
        start_worker(env={"DOJO_SANDBOX_BACKEND": "nsjail"})


def test_batch_regrade_reruns_keeping_history(
    celery_worker, participant, workshop, instructor
):
    """Rerun retrains on the worker; every grade is kept. (Re-evaluation by a
    real worker is walked in the browser, tests/browser/test_workshop_day.py,
    and graded model by model in tests/submissions/test_regrade_each.py.)"""
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

    batch = regrade_batch_create(assignment=mlp, mode="rerun", created_by=instructor)
    wait_for(lambda: finished(batch), timeout=180, what="the rerun")
    assert regrade_batch_progress(batch=batch)["percent"] == 100
    submission.refresh_from_db()
    assert submission.status == Status.GRADED
    assert submission.grades.count() == 2
    assert submission.current_grade != first_grade
    assert submission.runs.filter(kind=Run.Kind.TRAIN).count() == 2
    assert first_grade.pk in submission.grades.values_list("pk", flat=True)
    # The worker processes kept the standing current at each step.
    from django.core.management import call_command

    from submissions.models import Standing

    call_command("standings_check")
    standing = Standing.objects.get(participant=participant, assignment=mlp)
    assert (standing.graded, standing.attempts, standing.progress) == (1, 1, "passed")
