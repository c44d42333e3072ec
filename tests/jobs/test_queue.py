"""One queue writer and one hand-back serve every kind of job (`jobs.queue`,
`jobs.reconcile.job_training_hand_back`).

A submission's training, a check run and a prediction are queued by the same
code: the row says its job is due (token, `enqueued_at`, `sends`) and the
message leaves only once the transaction commits, shaped the same for each
kind. A training whose model could not be taken is handed back by one
function, under the one retry policy, for a submission and a check alike.
In-process, with the outbox fixture: no worker is the point here.
"""

import ast
import datetime
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from checks.models import CheckRun, CheckStatus
from checks.reconcile import CHECK_JOBS
from checks.services import check_evaluation_queue, check_run_create
from jobs.reconcile import TrainingHandBack, job_training_hand_back
from submissions.models import Status, Submission
from submissions.prediction_jobs import prediction_queue
from submissions.prediction_rows import Prediction, PredictionKind
from submissions.services.intake import submission_create
from submissions.services.lifecycle import submission_enqueue
from submissions.services.reconcile import SUBMISSION_JOBS

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
GOOD = "import keras\nprint('training')\n"
STAGED = "the runner host staged bytes other than those it announced"


@pytest.fixture
def mlp(workshop):
    return workshop.assignments.get(slug="mlp")


def _received(participant, mlp) -> Submission:
    return submission_create(
        participant=participant,
        assignment=mlp,
        upload=SimpleUploadedFile("train.py", b"print('hi')\n"),
    )


def test_one_writer_queues_a_submission_a_check_and_a_prediction(
    participant, mlp, outbox, settings, django_capture_on_commit_callbacks
):
    """Each row says its job is due before anything leaves; on commit one
    message a kind leaves, carrying the row and its current token, with the
    task's time limits past the kind's budget (a prediction: its window)."""
    submission = _received(participant, mlp)
    with django_capture_on_commit_callbacks(execute=True):
        submission_enqueue(submission_id=submission.pk)
        check = check_run_create(participant=participant, assignment=mlp, source=GOOD)
        now = timezone.now()
        prediction = Prediction.objects.create(
            participant=participant,
            submission=submission,
            kind=PredictionKind.PREDICT,
            asked="AA==",
            created_at=now,
            expires_at=now + datetime.timedelta(seconds=30),
        )
        prediction_queue(prediction=prediction)
        assert outbox == []  # nothing leaves before the rows are committed
    submission.refresh_from_db()
    check.refresh_from_db()
    for row in (submission, check):
        assert row.sends == 1 and row.enqueued_at is not None
    check_budget = settings.DOJO_CHECK_WALL_SECONDS + settings.DOJO_CHECK_EVAL_SECONDS
    assert outbox == [
        {
            "task": "submissions.tasks.train",
            "args": [submission.pk, str(submission.job_token)],
            "queue": "train-cpu",
            "soft_time_limit": mlp.wall_seconds + 120,
            "time_limit": mlp.wall_seconds + 180,
        },
        {
            "task": "checks.tasks.check_run",
            "args": [check.pk, str(check.job_token)],
            "queue": "check",
            "soft_time_limit": check_budget + 120,
            "time_limit": check_budget + 180,
        },
        {
            "task": "submissions.tasks.predict",
            "args": [prediction.pk, str(prediction.job_token)],
            "queue": "predict",
            "expires": prediction.expires_at,
        },
    ]


def test_a_runner_only_queue_gets_no_message_but_the_site_grader_does(
    participant, mlp, outbox, settings, django_capture_on_commit_callbacks
):
    """Where only runner hosts serve a queue, its jobs are due on their rows
    (a host takes them from there) and no message leaves; a check a host
    trained goes to the site's check workers anyway, as a job of its own."""
    settings.DOJO_RUNNER_QUEUES = ["train-cpu", "check"]
    submission = _received(participant, mlp)
    with django_capture_on_commit_callbacks(execute=True):
        submission_enqueue(submission_id=submission.pk)
        check = check_run_create(participant=participant, assignment=mlp, source=GOOD)
    assert outbox == []
    for row in (Submission.objects.get(pk=submission.pk), check):
        assert row.status == "queued"
        assert row.sends == 1 and row.enqueued_at is not None
    CheckRun.objects.filter(pk=check.pk).update(status=CheckStatus.RUNNING, attempts=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert check_evaluation_queue(
            check_id=check.pk, job_token=str(check.job_token), log="trained"
        )
    check.refresh_from_db()
    assert check.status == CheckStatus.EVALUATING
    assert (check.attempts, check.sends) == (0, 1)
    assert [(m["queue"], m["args"]) for m in outbox] == [
        ("check", [check.pk, str(check.job_token)])
    ]


def _evaluating(participant, mlp) -> tuple[Submission, CheckRun]:
    """A submission and a check whose models wait for the site's grader."""
    submission = _received(participant, mlp)
    check = check_run_create(participant=participant, assignment=mlp, source=GOOD)
    Submission.objects.filter(pk=submission.pk).update(status=Status.EVALUATING)
    CheckRun.objects.filter(pk=check.pk).update(status=CheckStatus.EVALUATING)
    return submission, check


def test_one_hand_back_trains_a_submission_and_a_check_again(
    participant, mlp, outbox, settings, django_capture_on_commit_callbacks
):
    """While attempts remain, each goes back to `queued` under a new token,
    its attempts kept, and its training is sent again; a stale token (the job
    moved on meanwhile) is left alone."""
    settings.DOJO_MAX_ATTEMPTS = 3
    submission, check = _evaluating(participant, mlp)
    for kind, row in ((SUBMISSION_JOBS, submission), (CHECK_JOBS, check)):
        row.refresh_from_db()
        assert (
            job_training_hand_back(
                kind=kind,
                pk=row.pk,
                job_token="0" * 32,
                back=TrainingHandBack(STAGED, attempts=1),
            )
            is None
        )
        old = str(row.job_token)
        with django_capture_on_commit_callbacks(execute=True):
            action = job_training_hand_back(
                kind=kind,
                pk=row.pk,
                job_token=old,
                back=TrainingHandBack(STAGED, attempts=1),
            )
        assert action == "requeued", kind.name
        row.refresh_from_db()
        assert row.status == "queued" and row.attempts == 1, kind.name
        assert str(row.job_token) != old
        assert outbox[-1]["args"] == [row.pk, str(row.job_token)]
    assert [m["task"] for m in outbox] == [
        "submissions.tasks.train",
        "checks.tasks.check_run",
    ]


def test_one_hand_back_ends_a_submission_and_a_check_error_once_attempts_are_used(
    participant, mlp, outbox, settings, django_capture_on_commit_callbacks
):
    """With its attempts used up, each ends `error`, the platform's fault with
    the reason quoted, never `failed`; nothing is sent."""
    settings.DOJO_MAX_ATTEMPTS = 2
    submission, check = _evaluating(participant, mlp)
    for kind, row in ((SUBMISSION_JOBS, submission), (CHECK_JOBS, check)):
        row.refresh_from_db()
        with django_capture_on_commit_callbacks(execute=True):
            action = job_training_hand_back(
                kind=kind,
                pk=row.pk,
                job_token=str(row.job_token),
                back=TrainingHandBack(STAGED, attempts=2),
            )
        assert action == "errored", kind.name
    submission.refresh_from_db()
    check.refresh_from_db()
    assert submission.status == Status.ERROR and check.status == CheckStatus.ERROR
    for reason in (submission.status_reason, check.reason):
        assert STAGED in reason and "fault" in reason
    assert check.attempts == 2
    assert outbox == []


def _writers(path: Path) -> list[str]:
    """Return where a file counts a job's send or sends a message itself."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.AugAssign)
            and isinstance(node.target, ast.Attribute)
            and node.target.attr == "sends"
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} sends +=")
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name in ("outbox_send", "outbox_send_on_commit"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    return found


def test_only_the_queue_writer_counts_a_send_or_sends_a_jobs_message():
    """No kind keeps its own copy of the queue: outside `jobs/queue.py` nothing
    counts a send, and only the outbox itself and a regrade's chunk (a message
    about a batch, not one job row) call the outbox."""
    allowed = {
        "platform/jobs/queue.py",
        "platform/jobs/outbox.py",
        "platform/submissions/services/regrade.py",
    }
    found = [
        line
        for path in sorted((ROOT / "platform").rglob("*.py"))
        if "migrations" not in path.parts and str(path.relative_to(ROOT)) not in allowed
        for line in _writers(path)
    ]
    assert found == []
