"""Queue pickup: time from a submission's commit to its training code starting.

Two figures: until a worker claims the job (its Run row), and until the first
line of the participant's code runs inside the sandbox (it prints the time).

Runs on the configured broker (Redis when REDIS_URL is set, else the embedded one)
with one idle real worker. Prints the median and p95 and the p95 as a ratio of the
0.5 s target (below 1.0 meets it).

    REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/queue_pickup.py [N]
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

from _site import percentile, test_database

TARGET_P95 = 0.5


def main(count: int) -> None:
    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile

    from accounts.services import user_ensure
    from submissions.models import Run, Status, Submission
    from submissions.services.intake import submission_create
    from tests.helpers import WorkerProcess, wait_for
    from workshops.services import enrollment_add, workshop_load_pack

    workshop = workshop_load_pack(path=Path("assignments/dl101"))
    mlp = workshop.assignments.get(slug="mlp")
    mlp.daily_limit = count + 10
    mlp.save()
    user = user_ensure(username="bench", password="bench-pass-123")
    enrollment_add(workshop=workshop, user=user)
    log = Path(tempfile.mkdtemp()) / "worker.log"
    worker = WorkerProcess(log=log)
    delays, starts = [], []
    code = b"import time\nprint('DOJO-START', time.time(), flush=True)\n"
    try:
        for _ in range(count):
            time.sleep(0.3)  # the worker is idle when each one arrives
            submission = submission_create(
                participant=user,
                assignment=mlp,
                upload=SimpleUploadedFile("t.py", code),
            )
            committed = submission.created_at
            run = wait_for(
                lambda s=submission: Run.objects.filter(submission=s).first(),
                timeout=30,
                every=0.01,
                what="pickup",
            )
            delays.append((run.started_at - committed).total_seconds())
            wait_for(
                lambda s=submission: (
                    Submission.objects.get(pk=s.pk).status != Status.TRAINING
                ),
                timeout=60,
                what="the run to end",
            )
            run.refresh_from_db()
            started = float(run.log.split("DOJO-START", 1)[1].split()[0])
            starts.append(started - committed.timestamp())
    finally:
        worker.stop()
    print(f"broker: {settings.CELERY_BROKER_URL.split(':')[0]}, {count} submissions")
    for name, values in (("claimed by a worker", delays), ("code running", starts)):
        p95 = percentile(values, 0.95)
        print(
            f"commit -> {name}: median {statistics.median(values) * 1000:.0f} ms, "
            f"p95 {p95 * 1000:.0f} ms = {p95 / TARGET_P95:.2f} x the "
            f"{TARGET_P95 * 1000:.0f} ms target"
        )


if __name__ == "__main__":
    with test_database():
        args = [a for a in sys.argv[1:] if a != "--quick"]
        # --quick: three pickups, the same path.
        main(3 if "--quick" in sys.argv else int(args[0]) if args else 20)
