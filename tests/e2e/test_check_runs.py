"""Check runs end to end: a real worker on the `check` queue, a real sandbox,
the MLP reference on the check slice, the structural checks on a public sample."""

import json
import time
from pathlib import Path

import pytest

from checks.models import CheckRun, CheckStatus
from checks.services import check_run_create
from tests.helpers import wait_for
from workers.sandbox._spare import READY_MARKER

ROOT = Path(__file__).resolve().parents[2]
MLP_SOLUTION = (ROOT / "assignments" / "dl101" / "mlp" / "solution.py").read_text()

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _final(check: CheckRun, timeout: float = 600) -> CheckRun:
    def done():
        check.refresh_from_db()
        return not check.is_active

    wait_for(done, timeout=timeout, what=f"check {check.pk} to finish")
    return check


def test_mlp_reference_check_passes_with_a_live_log(
    empty_queues, celery_worker, participant, workshop, settings
):
    """The MLP reference passes its check; the log grows while it runs and the
    result has every check and an indicative accuracy."""
    mlp = workshop.assignments.get(slug="mlp")
    check = check_run_create(
        participant=participant, assignment=mlp, source=MLP_SOLUTION
    )
    seen_running_with_output = wait_for(
        lambda: CheckRun.objects.filter(
            pk=check.pk, status=CheckStatus.RUNNING, log__contains="images:"
        ).exists(),
        timeout=300,
        every=0.1,
        what="the participant's output in the log while the check runs",
    )
    assert seen_running_with_output
    check = _final(check)
    assert check.status == CheckStatus.PASSED, (check.reason, check.log)
    result = check.result
    assert {c["id"] for c in result["checks"]} >= {
        "input_shape",
        "output_classes",
        "required_layer:Dense",
        "max_params",
    }
    assert all(c["passed"] for c in result["checks"])
    assert 0.3 < result["indicative_accuracy"] <= 1.0
    assert any("Indicative only" in note for note in result["feedback"])
    assert "Epoch" in check.log and "All checks passed." in check.log
    assert check.first_log_at and check.started_at <= check.first_log_at
    # The slot now keeps a warm sandbox for this assignment: the next check of
    # it skips TensorFlow's start, and passes the same way. A check sent while
    # the spare still warms rightly abandons it and starts cold (the spare
    # policy), so the second check is sent once the spare says it is ready.
    wait_for(
        lambda: any(
            marker.stat().st_mtime >= check.finished_at.timestamp() - 1
            for marker in Path(settings.DOJO_WORK_ROOT).glob(
                f"check-spare-*/{READY_MARKER}"
            )
        ),
        timeout=300,
        what="the slot's check spare to be warm",
    )
    again = check_run_create(
        participant=participant, assignment=mlp, source=MLP_SOLUTION
    )
    again = _final(again)
    assert again.status == CheckStatus.PASSED, (again.reason, again.log)
    assert again.warm_start is True
    assert again.result["checks"] == result["checks"]


PROBE = r"""
import os, numpy as np
print("DATA_FILES", sorted(os.listdir(os.environ["DOJO_DATA_DIR"])))
train = np.load(os.path.join(os.environ["DOJO_DATA_DIR"], "train.npz"))
print("TRAIN_SHAPE", list(train["x"].shape), "CLASSES", int(train["y"].max()) + 1)
found = []
SKIP = ("proc", "sys", "dev", "usr", "site-packages")
for top in ("/",):
    for folder, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d not in SKIP]
        found += [os.path.join(folder, f) for f in files if f.endswith(".npz")]
print("NPZ_FILES", sorted(found))
print("CHECK_RUN", os.environ.get("DOJO_CHECK_RUN"))
"""


def test_check_sees_only_the_slice_never_the_hidden_split(
    celery_worker, participant, workshop, settings
):
    """From inside the sandbox: /data holds the check slice's train.npz (50 images
    per class, not the 200 of the training split) and no .npz anywhere is a test
    split."""
    mlp = workshop.assignments.get(slug="mlp")
    check = _final(
        check_run_create(participant=participant, assignment=mlp, source=PROBE)
    )
    assert check.status == CheckStatus.FAILED  # it saved no model
    assert "saved no usable model" in check.reason
    lines = {
        line.split(" ", 1)[0]: line.split(" ", 1)[1]
        for line in check.log.splitlines()
        if line.split(" ", 1)[0] in ("DATA_FILES", "TRAIN_SHAPE", "NPZ_FILES")
    }
    assert lines["DATA_FILES"] == "['train.npz']"
    per_class = settings.DOJO_CHECK_TRAIN_PER_CLASS
    assert lines["TRAIN_SHAPE"] == f"[{per_class * 10}, 28, 28, 1] CLASSES 10"
    assert per_class < settings.DOJO_DATASET_TRAIN_PER_CLASS
    npz = json.loads(lines["NPZ_FILES"].replace("'", '"'))
    assert npz == ["/data/train.npz"], npz
    assert "CHECK_RUN 1" in check.log


def test_broken_script_ends_failed_with_the_reason(
    celery_worker, participant, workshop
):
    """A script that raises ends `failed` with the error's last line."""
    mlp = workshop.assignments.get(slug="mlp")
    source = "import numpy\nraise ValueError('the learning rate must be positive')\n"
    check = _final(
        check_run_create(participant=participant, assignment=mlp, source=source)
    )
    assert check.status == CheckStatus.FAILED
    assert "the learning rate must be positive" in check.reason
    assert "fix it and check again" in check.reason


def test_a_second_check_replaces_the_running_one(celery_worker, participant, workshop):
    """Pressing Check again cancels the running check (its sandbox stops) and the
    new one runs."""
    mlp = workshop.assignments.get(slug="mlp")
    slow = "import time\nprint('started', flush=True)\ntime.sleep(300)\n"
    first = check_run_create(participant=participant, assignment=mlp, source=slow)
    wait_for(
        lambda: CheckRun.objects.filter(pk=first.pk, log__contains="started").exists(),
        timeout=120,
        what="the first check to run",
    )
    second = check_run_create(
        participant=participant, assignment=mlp, source="raise SystemExit(3)\n"
    )
    first.refresh_from_db()
    assert first.status == CheckStatus.CANCELLED
    assert "Replaced" in first.reason
    started = time.monotonic()
    second = _final(second, timeout=120)
    # The worker stopped the first sandbox instead of sleeping out its 300 s.
    assert time.monotonic() - started < 90
    assert second.status == CheckStatus.FAILED
    first.refresh_from_db()
    assert first.status == CheckStatus.CANCELLED
