"""Check runs from the editor: click "Check" to first log line and to result.

Starts workers as `make run` does (a check worker with DOJO_CHECK_CONCURRENCY
slots on the `check` queue, a training worker apart), then, through Django's
test client as the editor's JavaScript does (POST the source, poll the status
URL every 100 ms):

1. one participant checks the MLP reference N times: p95 of click -> first log
   line, click -> the participant's own first output, click -> result shown;
2. a room: P participants press Check within 10 s of each other while a full
   submission (the MLP reference) is queued: every result must be shown within
   60 s, and the submission must start training no later than its normal start
   (measured alone first) plus one check's duration.

Prints each figure as a ratio of its target (below 1 is within it).

    .venv/bin/python bench/checkrun.py            # the real check slice (300
                                                  # images a class of the full
                                                  # Fashion-MNIST), N=10, P=10
    .venv/bin/python bench/checkrun.py --quick    # the suite's tiny slices,
                                                  # N=2, P=3: same code path
"""

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

QUICK = "--quick" in sys.argv
if not QUICK:
    # The real slices: the whole training split, cut to the check slice's
    # defaults. Set before Django reads settings; the workers inherit them.
    os.environ.setdefault("DOJO_DATASET_TRAIN_PER_CLASS", "0")
    os.environ.setdefault("DOJO_DATASET_TEST_PER_CLASS", "0")
    os.environ.setdefault("DOJO_CHECK_TRAIN_PER_CLASS", "300")
    os.environ.setdefault("DOJO_CHECK_PUBLIC_PER_CLASS", "50")

from _site import ROOT, percentile, test_database  # noqa: E402

TARGET_FIRST_LOG = 3.0
TARGET_RESULT = 15.0
TARGET_ROOM = 60.0
ROOM_SPREAD = 10.0
POLL = 0.1


class Press:
    """One click on "Check" and what the page then sees, polled like the JS."""

    def __init__(self, client, assignment, source: str) -> None:
        self.client = client
        self.clicked = time.monotonic()
        response = client.post(
            f"/checks/assignment/{assignment.pk}/",
            {"source": source},
            content_type="application/json",
        )
        assert response.status_code == 202, response.content
        self.url = response.json()["status_url"]
        self.first_log = self.first_output = self.done = None
        self.status = "queued"

    def poll(self) -> bool:
        """Read the status URL once; return whether the result is shown."""
        body = self.client.get(self.url).json()
        now = time.monotonic() - self.clicked
        if body["log"].strip() and self.first_log is None:
            self.first_log = now
        if self.first_output is None and "images:" in body["log"]:
            self.first_output = now
        if body["finished"]:
            self.done, self.status = now, body["status"]
            self.result = body["result"]
            self.reason, self.log = body["reason"], body["log"]
        return body["finished"]


def _wait_all(presses: list[Press], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = list(presses)
    while pending and time.monotonic() < deadline:
        pending = [p for p in pending if not p.poll()]
        time.sleep(POLL)
    assert not pending, f"{len(pending)} checks not finished in {timeout} s"


def _client(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def _participant(workshop, name: str):
    from accounts.services import user_ensure
    from workshops.services import enrollment_add

    user = user_ensure(username=name, password=f"{name}-pass-123")
    enrollment_add(workshop=workshop, user=user)
    return user


def _training_start(participant, assignment, code: bytes) -> float:
    """Submit; return seconds until its training starts, then cancel it."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from submissions.models import Run
    from submissions.services.intake import submission_create
    from submissions.services.lifecycle import submission_cancel
    from tests.helpers import wait_for

    start = time.monotonic()
    submission = submission_create(
        participant=participant,
        assignment=assignment,
        upload=SimpleUploadedFile("mlp.py", code),
    )
    wait_for(
        lambda: Run.objects.filter(submission=submission).exists(),
        timeout=300,
        every=0.05,
        what="the submission's training to start",
    )
    took = time.monotonic() - start
    submission_cancel(submission=submission)
    # The training worker is free again before anything else is measured.
    wait_for(
        lambda: not type(submission).objects.get(pk=submission.pk).is_active,
        timeout=120,
        what="the submission to be cancelled",
    )
    return took


def main(reps: int, room: int) -> None:
    from django.conf import settings

    from tests.helpers import WorkerProcess
    from workshops.services import workshop_load_pack

    settings.DOJO_CHECK_PER_MINUTE = 1000
    workshop = workshop_load_pack(path=ROOT / "assignments" / "dl101")
    mlp = workshop.assignments.get(slug="mlp")
    source = (ROOT / "assignments" / "dl101" / "mlp" / "solution.py").read_text()
    code = source.encode()
    logs = Path(tempfile.mkdtemp())
    slots = int(os.environ.get("DOJO_CHECK_CONCURRENCY", "2"))
    checker = WorkerProcess(log=logs / "check.log", queues="check", concurrency=slots)
    trainer = WorkerProcess(
        log=logs / "train.log", queues="train-cpu,train-gpu,evaluate,site"
    )
    try:
        solo = _participant(workshop, "solo")
        client = _client(solo)
        # The first check cuts the check slice (once per data version): apart.
        warm = Press(client, mlp, source)
        _wait_all([warm], 300)
        assert warm.status == "passed", (warm.status, warm.reason, warm.log[-3000:])
        singles = []
        for _ in range(reps):
            press = Press(client, mlp, source)
            _wait_all([press], 300)
            assert press.status == "passed", (press.reason, press.log[-3000:])
            singles.append(press)
        baseline = _training_start(solo, mlp, code)
        people = [_participant(workshop, f"room{i}") for i in range(room)]
        clients = [_client(user) for user in people]
        submitter = _participant(workshop, "submitter")
        presses: list[Press] = []
        delays: list[float] = []

        def submit() -> None:
            from django.db import connection

            try:
                delays.append(_training_start(submitter, mlp, code))
            finally:
                connection.close()

        thread = threading.Thread(target=submit)
        started = time.monotonic()
        gap = ROOM_SPREAD * 0.9 / max(1, room - 1)
        for i, room_client in enumerate(clients):
            while time.monotonic() < started + i * gap:
                for press in presses:
                    if press.done is None:
                        press.poll()
                time.sleep(POLL)
            presses.append(Press(room_client, mlp, source))
            if i == 0:
                # A full submission queued as the room starts checking.
                thread.start()
        _wait_all([p for p in presses if p.done is None], 300)
        thread.join(300)
    finally:
        checker.stop()
        trainer.stop()
    first_logs = [p.first_log for p in singles]
    outputs = [p.first_output for p in singles]
    results = [p.done for p in singles]
    room_results = [p.done for p in presses]
    one_check = statistics.median(results)
    accuracy = warm.result["indicative_accuracy"]
    print(
        f"broker: {settings.CELERY_BROKER_URL.split(':')[0]}, database: "
        f"{settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, check "
        f"worker slots: {slots}, check slice: {warm.result['train_images']} "
        f"training images, {warm.result['public_sample_images']} public images"
    )
    print(f"MLP reference check: passed, indicative accuracy {accuracy:.3f}")
    print(
        f"first check (cuts the slice): result in {warm.done:.1f} s; then "
        f"{reps} checks, one at a time:"
    )
    for label, values, target in (
        ("click -> first log line", first_logs, TARGET_FIRST_LOG),
        ("click -> own first output", outputs, TARGET_FIRST_LOG),
        ("click -> result shown", results, TARGET_RESULT),
    ):
        p95 = percentile(values, 0.95)
        print(
            f"  {label}: median {statistics.median(values):.2f} s, p95 {p95:.2f} s"
            f" = {p95 / target:.2f} x the {target:.0f} s target"
        )
    last = max(room_results)
    print(
        f"{room} participants pressing Check within {ROOM_SPREAD:.0f} s: every "
        f"result shown within {last:.1f} s of its click (median "
        f"{statistics.median(room_results):.1f} s) = {last / TARGET_ROOM:.2f} x "
        f"the {TARGET_ROOM:.0f} s target; statuses: "
        f"{sorted({p.status for p in presses})}"
    )
    delay = delays[0] - baseline if delays else float("nan")
    print(
        f"a full submission queued meanwhile started training after "
        f"{delays[0] if delays else float('nan'):.2f} s (alone: {baseline:.2f} s): "
        f"delayed {delay:.2f} s = {max(0.0, delay) / one_check:.2f} x one check's "
        f"duration ({one_check:.1f} s), the limit"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes")
    parser.add_argument("--reps", type=int, help="single checks (10; quick 2)")
    parser.add_argument("--room", type=int, help="participants (10; quick 3)")
    args = parser.parse_args()
    with test_database():
        main(
            args.reps or (2 if args.quick else 10),
            args.room or (3 if args.quick else 10),
        )
