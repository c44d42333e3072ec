"""Each way a training job can end lands in the right final state.

What the participant's code caused, what it left behind included, ends `failed`
with a reason they can act on; only a platform fault ends `error` (refunded).
Jobs run for real in the sandbox, through the service the worker's task calls.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from submissions import storage
from submissions.models import Run, Status, Submission
from submissions.services.execution import submission_train
from submissions.services.intake import submission_create
from submissions.services.jobs import job_queue
from workers.sandbox import CleanupError

pytestmark = pytest.mark.django_db

CONTROL = ("\x1b", "\u202e", "\x00", "\x07", "\x9b")


@pytest.fixture
def mlp(workshop):
    return workshop.assignments.get(slug="mlp")


@pytest.fixture
def train(participant, mlp, django_capture_on_commit_callbacks):
    """Submit ``code`` and run its training job here, as the worker's task does."""

    def _train(code: str, **assignment_fields) -> Submission:
        for field, value in assignment_fields.items():
            setattr(mlp, field, value)
        mlp.save()
        with django_capture_on_commit_callbacks(execute=False):
            submission = submission_create(
                participant=participant,
                assignment=mlp,
                upload=SimpleUploadedFile("train.py", code.encode()),
            )
            job_queue(submission=submission, kind=Run.Kind.TRAIN, status=Status.QUEUED)
        submission_train(
            submission_id=submission.pk,
            job_token=str(submission.job_token),
            worker="test@host",
            queue="train-cpu",
        )
        submission.refresh_from_db()
        return submission

    return _train


def _no_work_dirs_left(submission: Submission) -> None:
    run = submission.runs.get()
    root = Path(settings.DOJO_WORK_ROOT)
    assert not (root / f"run-{run.pk}").exists()
    assert not (root / f"run-{run.pk}-job").exists()


def test_code_that_raises_fails_with_its_error_quoted_safely(train) -> None:
    """The reason quotes the last error line, with ANSI, bidi and NUL neutralised."""
    submission = train(
        "raise ValueError('bad \\x1b[31mred\\x1b[0m \\u202eevil\\x00 \\x9b end')\n"
    )
    assert submission.status == Status.FAILED
    assert "ValueError: bad" in submission.status_reason
    assert not any(c in submission.status_reason for c in CONTROL)
    log = submission.runs.get().log
    assert "Traceback" in log and "\u241b[31mred" in log
    assert not any(c in log for c in CONTROL)


def test_log_with_nul_bytes_is_kept_and_the_run_fails_not_errors(train) -> None:
    """NUL in output is stored (PostgreSQL refuses raw NUL) and shown as ␀."""
    submission = train(
        "import sys\nsys.stdout.write('a\\x00b\\n')\nraise SystemExit(3)\n"
    )
    assert submission.status == Status.FAILED, submission.status_reason
    assert "a\u2400b" in submission.runs.get().log


def test_wall_time_limit_fails(train) -> None:
    submission = train("import time\ntime.sleep(60)\n", wall_seconds=2)
    assert submission.status == Status.FAILED
    assert "wall-time limit" in submission.status_reason


def test_memory_limit_fails(train) -> None:
    submission = train("x = bytearray(2 * 2**30)\nprint(len(x))\n", memory_mb=256)
    assert submission.status == Status.FAILED
    assert "memory limit" in submission.status_reason


def test_output_flood_fails(train) -> None:
    submission = train(
        "import sys\nwhile True:\n    sys.stdout.write('x' * 2**20 + '\\n')\n"
    )
    assert submission.status == Status.FAILED
    assert "output limit" in submission.status_reason


def test_process_limit_fails(train) -> None:
    submission = train(
        "import os, time\n"
        "for _ in range(2000):\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(30)\n"
        "        os._exit(0)\n"
    )
    assert submission.status == Status.FAILED
    assert "process limit" in submission.status_reason


def test_too_many_files_fails_with_the_disk_limits(train) -> None:
    """20,000 empty files pass the 10,000-entry limit: failed, and all removed."""
    submission = train(
        "import os\nos.mkdir('many')\n"
        "for i in range(20000):\n    open(f'many/{i}', 'w').close()\n"
    )
    assert submission.status == Status.FAILED
    assert "10,000 files" in submission.status_reason
    _no_work_dirs_left(submission)


def test_deep_tree_left_behind_fails_not_errors_and_is_removed(train) -> None:
    """A 5,000-level tree (RecursionError for shutil.rmtree) is the participant's
    doing: failed for the missing model, never a refunded platform error."""
    submission = train(
        "import os\nfor _ in range(5000):\n    os.mkdir('d')\n    os.chdir('d')\n"
    )
    assert submission.status == Status.FAILED, submission.status_reason
    assert "model.keras is missing" in submission.status_reason
    _no_work_dirs_left(submission)


def test_a_cleanup_failure_is_logged_never_charged(train, monkeypatch, caplog) -> None:
    """If a work dir cannot be removed, the outcome stays the participant's own and
    the failure is logged for the sweeper."""

    real = storage.remove_tree

    def refuse(path):
        if Path(path).exists():
            raise CleanupError(16, f"cannot remove {path}")
        real(path)

    monkeypatch.setattr(storage, "remove_tree", refuse)
    submission = train("print('no model')\n")
    monkeypatch.undo()
    assert submission.status == Status.FAILED
    assert "the sweeper will retry" in caplog.text
    run = submission.runs.get()
    assert (Path(settings.DOJO_WORK_ROOT) / f"run-{run.pk}").exists()
    storage.discard(Path(settings.DOJO_WORK_ROOT) / f"run-{run.pk}")


def test_a_symlinked_model_is_refused_as_not_a_plain_file(train) -> None:
    """model.keras pointing at a host file is never copied: failed, with why."""
    submission = train(
        "import os\n"
        "os.symlink('/etc/hostname', os.path.join("
        "os.environ['DOJO_OUTPUT_DIR'], 'model.keras'))\n"
    )
    assert submission.status == Status.FAILED
    assert "not a plain file" in submission.status_reason
    assert not submission.runs.get().artifact_path


def test_a_sparse_model_past_the_limit_is_refused(train) -> None:
    """A 300 MB sparse model.keras breaks the disk limit by its apparent size."""
    submission = train(
        "import os\n"
        "with open(os.path.join(os.environ['DOJO_OUTPUT_DIR'], 'model.keras'), 'wb')"
        " as f:\n    f.truncate(200 * 2**20)\n"
        "with open('pad.bin', 'wb') as f:\n    f.truncate(200 * 2**20)\n"
        "with open('pad2.bin', 'wb') as f:\n    f.truncate(200 * 2**20)\n"
    )
    assert submission.status == Status.FAILED
    assert "disk limits" in submission.status_reason
    assert not submission.runs.get().artifact_path


def test_a_platform_fault_is_an_error_and_refunded(train, mlp) -> None:
    """Missing training data is the platform's fault: error, not counted."""
    from submissions.services.intake import submissions_used_today

    storage.discard(storage.assignment_train_dir(mlp.pk))
    submission = train("print('fine')\n")
    assert submission.status == Status.ERROR
    assert "does not count against your limit" in submission.status_reason
    assert (
        submissions_used_today(participant=submission.participant, assignment=mlp) == 0
    )


def _evaluate(submission: Submission) -> Submission:
    from submissions.services.execution import submission_evaluate

    assert submission.status == Status.EVALUATING, submission.status_reason
    submission_evaluate(
        submission_id=submission.pk,
        job_token=str(submission.job_token),
        worker="test@host",
    )
    submission.refresh_from_db()
    return submission


SAVE_GARBAGE_MODEL = (
    "import os\n"
    "with open(os.path.join(os.environ['DOJO_OUTPUT_DIR'], 'model.keras'), 'wb')"
    " as f:\n    f.write(b'not a keras file \\x1b[2J')\n"
)


def test_a_model_the_grader_cannot_read_fails_not_errors(train) -> None:
    """A saved file that is no Keras model is the participant's: failed, graded
    in the evaluation sandbox with a reason."""
    submission = _evaluate(train(SAVE_GARBAGE_MODEL))
    assert submission.status == Status.FAILED, submission.status_reason
    assert "\x1b" not in submission.status_reason
    assert "does not count against your limit" not in submission.status_reason


def test_missing_hidden_test_split_is_a_platform_error(train, mlp) -> None:
    """The grader without its test data is the platform's fault: error, refunded."""
    submission = train(SAVE_GARBAGE_MODEL)
    storage.discard(storage.assignment_hidden_dir(mlp.pk))
    submission = _evaluate(submission)
    assert submission.status == Status.ERROR, submission.status_reason
    assert "does not count against your limit" in submission.status_reason
