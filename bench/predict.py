"""Try-your-model latency: from the page's POST to the answer it shows.

Trains and grades the DL101 CNN reference (on the test settings' slice of
Fashion-MNIST) with a real worker, then posts images to the submission's
predict endpoint through Django's test client, as the page does: the web view
queues the request, a worker's warm predictor sandbox answers, the view returns
the top 3. Prints the first request (the model is loaded), then the median
and p95 of the next N, and the p95 as a ratio of the 500 ms target.

    .venv/bin/python bench/predict.py [N]     (embedded broker unless REDIS_URL)
"""

import base64
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _site import ROOT, percentile, test_database

TARGET_P95 = 0.5


def main(count: int) -> None:
    import numpy as np
    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    from accounts.services import user_ensure
    from submissions.models import Status
    from submissions.services.intake import submission_create
    from tests.helpers import WorkerProcess, wait_for
    from workshops.services import enrollment_add, workshop_load_pack

    settings.DOJO_PREDICT_PER_MINUTE = count + 10
    workshop = workshop_load_pack(path=ROOT / "assignments" / "dl101")
    cnn = workshop.assignments.get(slug="cnn")
    user = user_ensure(username="bench", password="bench-pass-123")
    enrollment_add(workshop=workshop, user=user)
    logs = Path(tempfile.mkdtemp())
    # As `make run` and compose start them: training apart, predictions on a
    # solo worker that starts its predictor sandbox when it starts.
    worker = WorkerProcess(
        log=logs / "worker.log", queues="train-cpu,train-gpu,evaluate,site"
    )
    predictor = WorkerProcess(log=logs / "predict.log", queues="predict", pool="solo")
    try:
        code = (ROOT / "assignments" / "dl101" / "cnn" / "solution.py").read_bytes()
        submission = submission_create(
            participant=user, assignment=cnn, upload=SimpleUploadedFile("cnn.py", code)
        )
        wait_for(
            lambda: (
                submission.__class__.objects.get(pk=submission.pk).status
                in (Status.GRADED, Status.FAILED, Status.ERROR)
            ),
            timeout=600,
            what="the CNN reference to be graded",
        )
        submission.refresh_from_db()
        assert submission.status == Status.GRADED, submission.status_reason
        client = Client()
        client.force_login(user)
        url = f"/s/{submission.pk}/predict/"
        rng = np.random.default_rng(0)

        def ask() -> float:
            pixels = rng.integers(0, 256, 28 * 28, dtype=np.uint8).tobytes()
            body = json.dumps({"pixels": base64.b64encode(pixels).decode()})
            start = time.perf_counter()
            # POST answers 202 with an id at once; the page polls for the answer.
            response = client.post(url, body, content_type="application/json")
            assert response.status_code == 202, response.content
            poll = response.json()["poll"]
            while True:
                answer = client.get(poll)
                assert answer.status_code == 200, answer.content
                if answer.json().get("status") == "done":
                    break
                assert time.perf_counter() - start < 120, "no answer in 120 s"
                time.sleep(0.01)
            elapsed = time.perf_counter() - start
            assert len(answer.json()["top"]) == 3
            return elapsed

        cold = ask()
        warm = [ask() for _ in range(count)]
    finally:
        worker.stop()
        predictor.stop()
    p95 = percentile(warm, 0.95)
    print(
        f"broker: {settings.CELERY_BROKER_URL.split(':')[0]}, CNN model, "
        f"{count} requests"
    )
    print(
        "POST -> answer, first request (loads the model; the predictor sandbox "
        f"started with its worker): {cold * 1000:.0f} ms"
    )
    print(
        f"POST -> answer, warm: median {statistics.median(warm) * 1000:.0f} ms, "
        f"p95 {p95 * 1000:.0f} ms, max {max(warm) * 1000:.0f} ms = "
        f"{p95 / TARGET_P95:.2f} x the {TARGET_P95 * 1000:.0f} ms target"
    )


if __name__ == "__main__":
    with test_database():
        args = [a for a in sys.argv[1:] if a != "--quick"]
        # --quick: three requests after the first, the same path.
        main(3 if "--quick" in sys.argv else int(args[0]) if args else 50)
