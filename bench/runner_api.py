"""What one runner job costs the site: the runner API against a site worker's own work.

A runner trains elsewhere; the site still answers its claim, its file
downloads, its heartbeats, its upload and its result. This bench times that
site-side work per job through Django's test client (in this process: its
CPU time is the site's), with a real saved Keras model uploaded and kept, and
compares it with the baseline a site worker does in-process for the same job
(claim, record, keep the model, apply the outcome), minus the training itself
in both. Prints the milliseconds per job (wall and CPU) and the ratio.

Settings it changes (printed): DOJO_RUNNER_QUEUES=train-cpu (runner-only),
DOJO_RUNNER_POLL_SECONDS=0; evaluation messages are recorded, not sent (no
worker grades here).

    .venv/bin/python bench/runner_api.py [--jobs 30] [--beats 5] [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from _site import ROOT, test_database

LOG = ("Epoch 1/5\n29/29 - 1s - 36ms/step - accuracy: 0.61 - loss: 1.21\n") * 300


def _setup(jobs: int):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from accounts.services import user_ensure
    from jobs import outbox
    from submissions.services.intake import submission_create
    from submissions.services.lifecycle import submission_enqueue
    from workshops.services import enrollment_add, workshop_load_pack

    outbox.transport = lambda *args, **kwargs: None
    workshop = workshop_load_pack(path=ROOT / "assignments" / "dl101")
    mlp = workshop.assignments.get(slug="mlp")
    teacher = user_ensure(username="bench-teacher", password="bench-pass-123")

    def submit(n: int):
        user = user_ensure(username=f"runner{n:03d}", password="bench-pass-123")
        enrollment_add(workshop=workshop, user=user)
        submission = submission_create(
            participant=user,
            assignment=mlp,
            upload=SimpleUploadedFile("train.py", b"print('hi')\n"),
        )
        submission_enqueue(submission_id=submission.pk)
        return submission

    return mlp, teacher, submit


def _model(folder: Path, shape: tuple[int, ...]) -> Path:
    from tests.model_builders import keras_model

    path = folder / "model.keras"
    keras_model("good", shape).save(path)
    return path


def _runner_job(client, headers: dict, model: bytes, beats: int) -> None:
    post = lambda path, body: client.post(  # noqa: E731
        path, json.dumps(body), content_type="application/json", **headers
    )
    handout = post("/runner/v1/jobs/request", {}).json()
    job = handout["job"]
    assert client.get(handout["script"]["url"]).status_code == 200
    b"".join(client.get(handout["data"][0]["url"]).streaming_content)
    for _ in range(beats):
        post("/runner/v1/heartbeat", {"jobs": [{"job": job, "log": LOG}]})
    digest = hashlib.sha256(model).hexdigest()
    announce = {"name": "model.keras", "size": len(model), "sha256": digest}
    url = post(f"/runner/v1/jobs/{job}/uploads", announce).json()["url"]
    client.generic("PUT", url, data=model, content_type="application/octet-stream")
    answer = post(
        f"/runner/v1/jobs/{job}/result",
        {
            "result": {
                "version": 1,
                "job_id": handout["spec"]["job_id"],
                "ending": "ok",
                "exit_code": 0,
                "wall_seconds": 10.0,
                "cpu_seconds": 9.0,
                "peak_memory_bytes": 10**9,
                "log": LOG,
                "log_truncated": False,
                "artifacts": [
                    {"name": "model.keras", "sha256": digest, "size_bytes": len(model)}
                ],
            },
            "device": {"backend": "tensorflow", "on_gpu": False, "name": "CPU"},
        },
    ).json()
    assert answer.get("verdict") == "trained", answer


def _site_worker_job(submission, model: Path, folder: Path) -> None:
    """The same job's bookkeeping as a site worker does it (no training)."""
    from submissions.models import Run, Status
    from submissions.services.execution import training_settle
    from submissions.services.jobs import job_apply, job_claim
    from workers import sandbox

    submission.refresh_from_db()
    run = job_claim(
        submission_id=submission.pk,
        job_token=str(submission.job_token),
        kind=Run.Kind.TRAIN,
        expect=Status.QUEUED,
        worker="bench@site",
        queue="train-cpu",
    )
    output = folder / f"out-{run.pk}"
    output.mkdir()
    shutil.copy(model, output / "model.keras")
    result = sandbox.SandboxResult(
        outcome=sandbox.Outcome.OK,
        exit_code=0,
        wall_seconds=10.0,
        cpu_seconds=9.0,
        peak_memory_bytes=10**9,
        log=LOG,
        log_truncated=False,
        backend="bwrap",
    )
    outcome = training_settle(
        run=run,
        result=result,
        output=output,
        limits=sandbox.SandboxLimits(),
        device=None,
    )
    job_apply(run=run, outcome=outcome)
    assert outcome.verdict == "trained", outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--beats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="3 jobs")
    args = parser.parse_args()
    jobs = 3 if args.quick else args.jobs
    with test_database():
        from django.conf import settings
        from django.test import Client

        from runners.hosts import host_register, join_token_create

        settings.DOJO_RUNNER_QUEUES = ["train-cpu"]
        settings.DOJO_RUNNER_POLL_SECONDS = 0
        print(
            "settings changed: DOJO_RUNNER_QUEUES=train-cpu, "
            "DOJO_RUNNER_POLL_SECONDS=0; evaluation messages not sent"
        )
        mlp, teacher, submit = _setup(jobs)
        folder = Path(tempfile.mkdtemp(prefix="dojo-bench-runner-"))
        try:
            model = _model(folder, tuple(mlp.spec["checks"]["input_shape"]))
            _, secret = join_token_create(
                created_by=teacher, workshop=None, queues=["train-cpu"]
            )
            _, credential = host_register(data={"token": secret, "name": "bench"})
            client = Client()
            headers = {"HTTP_AUTHORIZATION": f"Bearer {credential}"}
            payload = model.read_bytes()
            timings: dict[str, list[tuple[float, float]]] = {"site": [], "runner": []}
            # Alternate the two, so drift on a shared machine hits both alike;
            # one warm-up of each first (archive build, caches).
            for n in range(jobs + 1):
                for name in ("site", "runner"):
                    submission = submit(2 * n + (name == "runner"))
                    wall, cpu = time.perf_counter(), time.process_time()
                    if name == "site":
                        _site_worker_job(submission, model, folder)
                    else:
                        _runner_job(client, headers, payload, args.beats)
                    took = (time.perf_counter() - wall, time.process_time() - cpu)
                    if n:
                        timings[name].append(took)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    print(
        f"{jobs} jobs each, model {len(payload) / 1024:.0f} KiB, "
        f"{args.beats} heartbeats of {len(LOG) / 1024:.0f} KiB log per runner job"
    )
    medians = {}
    for name, label in (("site", "site worker (baseline)"), ("runner", "runner API")):
        wall = statistics.median(t[0] for t in timings[name]) * 1000
        cpu = statistics.median(t[1] for t in timings[name]) * 1000
        medians[name] = (wall, cpu)
        print(f"{label:24s} median {wall:7.1f} ms wall, {cpu:7.1f} ms CPU per job")
    print(
        f"ratio runner/site: {medians['runner'][0] / medians['site'][0]:.2f}x wall, "
        f"{medians['runner'][1] / medians['site'][1]:.2f}x CPU"
    )


if __name__ == "__main__":
    main()
