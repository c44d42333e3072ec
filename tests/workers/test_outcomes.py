"""Each way a training job can end lands in the right final state.

What the participant's code caused, what it left behind included, ends `failed`
with a reason they can act on; only a platform fault ends `error` (refunded).
Jobs run for real in the sandbox, through the service the worker's task calls.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from submissions import storage
from submissions.models import Run, Status, Submission
from tests.model_builders import trained_here
from workers.sandbox import CleanupError, _owner, read_owner
from workshops import folders

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
        return trained_here(
            participant=participant,
            assignment=mlp,
            code=code,
            capture=django_capture_on_commit_callbacks,
        )

    return _train


def _no_work_dirs_left(submission: Submission) -> None:
    run = submission.runs.get()
    root = Path(settings.DOJO_WORK_ROOT)
    assert not (root / f"run-{run.pk}").exists()
    assert not (root / f"run-{run.pk}-job").exists()


def test_code_that_raises_fails_with_its_error_quoted_safely(train) -> None:
    """The reason quotes the last error line: colour escapes consumed as a
    terminal would, bidi and NUL neutralised."""
    submission = train(
        "raise ValueError('bad \\x1b[31mred\\x1b[0m \\u202eevil\\x00 \\x9b end')\n"
    )
    assert submission.status == Status.FAILED
    assert "ValueError: bad" in submission.status_reason
    assert not any(c in submission.status_reason for c in CONTROL)
    log = submission.runs.get().log
    assert "Traceback" in log and "ValueError: bad red <U+202E>evil" in log
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

    real = _owner.remove_tree

    def refuse(path):
        if Path(path).exists():
            raise CleanupError(16, f"cannot remove {path}")
        real(path)

    monkeypatch.setattr(_owner, "remove_tree", refuse)
    submission = train("print('no model')\n")
    monkeypatch.undo()
    assert submission.status == Status.FAILED
    assert "the sweeper will retry" in caplog.text
    run = submission.runs.get()
    folder = Path(settings.DOJO_WORK_ROOT) / f"run-{run.pk}"
    assert folder.exists()
    assert read_owner(folder).pid == 0, "released: the next sweep retries it"
    folders.discard(folder)


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

    folders.discard(folders.assignment_train_dir(mlp.pk))
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
# A plain .keras archive (it passes the inspection, so it is kept) that Keras
# cannot build: evaluation is where it fails.
SAVE_UNLOADABLE_MODEL = (
    "import os, zipfile\n"
    "path = os.path.join(os.environ['DOJO_OUTPUT_DIR'], 'model.keras')\n"
    "with zipfile.ZipFile(path, 'w') as z:\n"
    "    z.writestr('metadata.json', '{}')\n"
    '    z.writestr(\'config.json\', \'{"class_name": "NoSuchLayer", '
    '"config": {}}\')\n'
    "    z.writestr('model.weights.h5', b'\\0' * 64)\n"
)


def _final(submission: Submission) -> Submission:
    """Evaluate a trained submission; one refused at training is final already."""
    if submission.status == Status.EVALUATING:
        return _evaluate(submission)
    return submission


def test_a_model_the_grader_cannot_read_fails_not_errors(train) -> None:
    """A saved file that is no Keras model is the participant's: failed, graded
    in the evaluation sandbox with a reason."""
    submission = _final(train(SAVE_GARBAGE_MODEL))
    assert submission.status == Status.FAILED, submission.status_reason
    assert "\x1b" not in submission.status_reason
    assert "does not count against your limit" not in submission.status_reason


def test_missing_hidden_test_split_is_a_platform_error(train, mlp) -> None:
    """The grader without its test data is the platform's fault: error, refunded."""
    submission = train(SAVE_UNLOADABLE_MODEL)
    folders.discard(folders.assignment_hidden_dir(mlp.pk))
    submission = _evaluate(submission)
    assert submission.status == Status.ERROR, submission.status_reason
    assert "does not count against your limit" in submission.status_reason


def _zip_bytes(config: bytes, *, method: int = 8) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        archive.writestr("metadata.json", b"{}")
        archive.writestr("model.weights.h5", b"\0" * 64)
        archive.writestr("config.json", config)
    return buffer.getvalue()


def _member_body(data: bytes, name: str) -> int:
    """Return where a stored member's compressed bytes start."""
    import io
    import zipfile

    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(name)
    header = info.header_offset
    name_len = int.from_bytes(data[header + 26 : header + 28], "little")
    extra_len = int.from_bytes(data[header + 28 : header + 30], "little")
    return header + 30 + name_len + extra_len


def _corrupt_deflate() -> bytes:
    """A zip whose config.json deflate stream has an invalid block (zlib.error)."""
    data = bytearray(_zip_bytes(b'{"layers": []}' * 200))
    data[_member_body(bytes(data), "config.json")] = 0x07  # final, reserved type
    return bytes(data)


def _unknown_method() -> bytes:
    """A zip whose config.json claims compression method 99 (NotImplementedError)."""
    data = bytearray(_zip_bytes(b"{}", method=0))
    offset = 0
    while (offset := data.find(b"config.json", offset + 1)) != -1:
        header = data.rfind(b"PK", 0, offset)
        field = 8 if data[header + 2 : header + 4] == b"\x03\x04" else 10
        data[header + field : header + field + 2] = (99).to_bytes(2, "little")
    return bytes(data)


def _corrupt_compressed(method: int) -> bytes:
    """A zip whose config.json (bzip2: OSError, LZMA: LZMAError) ends in junk."""
    import io
    import zipfile

    data = bytearray(_zip_bytes(b'{"layers": []}' * 200, method=method))
    end = _member_body(bytes(data), "config.json")
    end += zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("config.json").compress_size
    data[end - 5 : end] = b"\0" * 5
    return bytes(data)


def _weights_cut_short() -> bytes:
    """A real Keras model file whose weights member (model.weights.npz) is empty:
    Keras reads it with NumPy, which raises EOFError."""
    import io
    import tempfile
    import zipfile

    from tests.model_builders import keras_model

    with tempfile.TemporaryDirectory() as folder:
        saved = Path(folder) / "model.keras"
        keras_model("good", (28, 28, 1)).save(saved)
        with zipfile.ZipFile(saved) as source:
            members = {
                name: source.read(name)
                for name in source.namelist()
                if name != "model.weights.h5"
            }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in {**members, "model.weights.npz": b""}.items():
            archive.writestr(name, data)
    return buffer.getvalue()


GRADER_CHOKES = {
    # 200,000 nested brackets: RecursionError in json.
    "deep-config": lambda: _zip_bytes(b"[" * 200_000 + b"]" * 200_000),
    "corrupt-deflate": _corrupt_deflate,
    "unknown-compression": _unknown_method,
    "corrupt-bzip2": lambda: _corrupt_compressed(12),
    "corrupt-lzma": lambda: _corrupt_compressed(14),
    "weights-cut-short": _weights_cut_short,
}
# What the reason must say, past naming the model, where the case has words of its own.
CHOKE_REASONS = {"weights-cut-short": "cut short"}


@pytest.mark.parametrize("kind", sorted(GRADER_CHOKES))
def test_a_model_file_the_grader_chokes_on_fails_and_counts(train, mlp, kind) -> None:
    """Any failure to open, read, decompress or parse the participant's model
    file is theirs: failed with a reason, counted against the daily limit."""
    import base64

    from submissions.services.intake import submissions_used_today

    payload = base64.b64encode(GRADER_CHOKES[kind]()).decode()
    submission = _final(
        train(
            "import base64, os\n"
            "with open(os.path.join(os.environ['DOJO_OUTPUT_DIR'], 'model.keras'),"
            " 'wb') as f:\n"
            f"    f.write(base64.b64decode('{payload}'))\n"
        )
    )
    assert submission.status == Status.FAILED, submission.status_reason
    assert "model" in submission.status_reason.lower()
    assert CHOKE_REASONS.get(kind, "") in submission.status_reason
    assert (
        submissions_used_today(participant=submission.participant, assignment=mlp) == 1
    )


def _crash_grader_once_it_touches_a_model(stop) -> None:
    """Kill the grader with SIGSEGV (as a native TensorFlow crash would) the
    moment its marker says it has started on a participant's model."""
    import os
    import signal
    import time

    root = Path(settings.DOJO_WORK_ROOT)
    while not stop.is_set():
        for marker in root.glob("eval-*/touching.json"):
            for proc in Path("/proc").glob("[0-9]*"):
                try:
                    argv = (proc / "cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                if str(marker).encode() in argv and b"batch" in argv:
                    os.kill(int(proc.name), signal.SIGSEGV)
                    return
        time.sleep(0.002)


def test_a_grader_that_dies_on_the_model_fails_it_not_errors(train, mlp) -> None:
    """A grader process that dies while loading or calling the participant's
    model died of the model: failed, counted, never a refunded error."""
    import threading

    from submissions.services.intake import submissions_used_today
    from tests.model_builders import keras_model

    submission = train(SAVE_UNLOADABLE_MODEL)
    artifact = Path(submission.runs.get(kind=Run.Kind.TRAIN).artifact_path)
    keras_model("slow", (28, 28, 1)).save(artifact.with_suffix(".tmp.keras"))
    artifact.with_suffix(".tmp.keras").replace(artifact)
    stop = threading.Event()
    killer = threading.Thread(
        target=_crash_grader_once_it_touches_a_model, args=(stop,), daemon=True
    )
    killer.start()
    try:
        submission = _evaluate(submission)
    finally:
        stop.set()
        killer.join(timeout=5)
    assert submission.status == Status.FAILED, submission.status_reason
    assert "crashed while loading or running your model" in submission.status_reason
    assert (
        submissions_used_today(participant=submission.participant, assignment=mlp) == 1
    )


def test_a_model_that_fails_the_archive_inspection_is_never_kept(train, mlp) -> None:
    """A file the inspection refuses is not kept on disk: the submission fails
    at once with the inspection's reason, and counts."""
    from submissions.services.intake import submissions_used_today

    submission = train(SAVE_GARBAGE_MODEL)
    assert submission.status == Status.FAILED, submission.status_reason
    assert "cannot be used" in submission.status_reason
    run = submission.runs.get()
    assert not run.artifact_path
    assert not (storage.artifact_dir(submission.pk) / f"run-{run.pk}").exists()
    assert (
        submissions_used_today(participant=submission.participant, assignment=mlp) == 1
    )


def test_a_participant_past_the_disk_quota_gets_a_clear_refusal(
    train, settings
) -> None:
    """Models kept count against the participant's quota; past it, the new one
    is not kept and the reason says how much is used and what to do."""
    settings.DOJO_PARTICIPANT_DISK_MB = 0
    submission = train(SAVE_UNLOADABLE_MODEL)
    assert submission.status == Status.FAILED, submission.status_reason
    assert "of your 0 MiB" in submission.status_reason
    assert not submission.runs.get().artifact_path
