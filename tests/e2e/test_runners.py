"""A runner host in its own network namespace trains a submission and a check
run over HTTP, its files moving through a real S3 server.

The site runs as a live server on the host side of a veth pair; the runner
(`python -m dojo_runner`) runs in a network namespace of its own, in a mount
namespace with a tmpfs over the project's var/ (the site's files are not
there), with an environment that holds no DATABASE_URL, REDIS_URL, settings or
secret. It joins with the command the hosts page shows, trains a real (small)
check run and submission in the bubblewrap sandbox, and the site's own
workers check and grade them: the hidden split, and the public sample cut
from it, never leave the site.

The site's files move as in production (DOJO_OBJECT_STORE=s3): a real
SeaweedFS (`bin/dojo-objectstore`) listens on the host side of the veth pair
only, so the presigned URLs the site hands out name the one address the
runner reaches it at; the runner downloads the script and the training split
from it and uploads its models there by presigned PUT, bound to their length
and sha256, and the site's worker reads each back, verifies and keeps it
before checking or grading it. The local-disk path (the site's own signed
file views) is proven end to end by tests/faults/test_runner_faults.py
(`make faults`) and in-process by tests/runners/test_api.py. Where this
machine cannot make namespaces, or SeaweedFS is missing, the test fails with
the reason.
"""

import hashlib
import json
import re
import subprocess
import uuid
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from checks.models import ACTIVE_CHECK_STATUSES, CheckStatus
from checks.services import check_run_create
from runners import objectstore
from runners.models import Host, HostJob
from submissions.models import Run, Status
from submissions.services.intake import submission_create
from tests.helpers import wait_for
from tests.netns import inside
from tests.seaweedfs import seaweedfs_start

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv" / "bin" / "python"
# The MLP reference, one epoch: the cheapest real training that gets graded.
TINY = (
    (ROOT / "assignments" / "dl101" / "mlp" / "solution.py")
    .read_text()
    .replace("epochs=10", "epochs=1")
    .encode()
)
SECRETS = ("DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY", "DJANGO_SETTINGS_MODULE")
# Run inside the namespace: what the runner's side can reach and see.
PROBE = """
import json, os, socket, sys
reach = {}
for host, port in [("127.0.0.1", 5432), ("127.0.0.1", 6379),
                   (sys.argv[1], 5432), (sys.argv[1], 6379)]:
    s = socket.socket(); s.settimeout(1)
    try:
        s.connect((host, port)); reach[f"{host}:{port}"] = True
    except OSError:
        reach[f"{host}:{port}"] = False
    finally:
        s.close()
print(json.dumps({"reach": reach, "env": sorted(os.environ),
                  "site_files": os.path.exists(sys.argv[2])}))
"""
# Run inside the namespace: the runner's own client PUTs to presigned upload
# URLs the site made for `body`: tampered tries to one, the signed bytes to
# another. Prints each try's HTTP status.
TAMPER = """
import json, sys, tempfile
from pathlib import Path
from dojo_runner.client import Site, SiteError
tampered, whole = json.loads(sys.argv[1]), json.loads(sys.argv[2])
body = sys.argv[3].encode()
tries = [
    ("longer", tampered, body + b"!", tampered["headers"]),
    ("shorter", tampered, body[:-1], tampered["headers"]),
    ("other_bytes", tampered, b"X" * len(body), tampered["headers"]),
    ("no_checksum_header", tampered, body, {}),
    ("as_signed", whole, body, whole["headers"]),
]
status = {}
with tempfile.TemporaryDirectory() as folder:
    for name, signed, data, headers in tries:
        path = Path(folder) / name
        path.write_bytes(data)
        try:
            Site("http://127.0.0.1:9").upload(signed["url"], path, len(data), headers)
            status[name] = 200
        except SiteError as exc:
            status[name] = exc.status
print(json.dumps(status))
"""

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def store(netns, tmp_path, settings) -> dict:
    """A real SeaweedFS on the host side of the veth pair only, the site's
    settings pointed at it; yields those settings (the site's worker's too)."""
    root = tmp_path / "seaweedfs"
    root.mkdir()
    process, server = seaweedfs_start(root, netns["site"])
    env = {
        "DOJO_OBJECT_STORE": "s3",
        "DOJO_S3_ENDPOINT_URL": server.endpoint,
        "DOJO_S3_PUBLIC_URL": "",
        "DOJO_S3_BUCKET": f"dojo-e2e-{uuid.uuid4().hex[:12]}",
        "DOJO_S3_ACCESS_KEY_ID": server.key_id,
        "DOJO_S3_SECRET_ACCESS_KEY": server.secret,
    }
    for name, value in env.items():
        setattr(settings, name, value)
    yield env
    # Its data is this test's own: no need to wait for a clean shutdown.
    process.kill()
    process.wait(10)


@pytest.fixture
def site_worker(start_worker, _shared_worker, store):
    """The site's worker (every queue) with the site's object store settings:
    it reads each staged model back before checking or grading it. The shared
    worker (no store) goes first, so only this one takes the work: killed, as
    it is idle between tests (a warm shutdown took up to its 20 s grace on
    the SQLite broker); the next test that wants it starts a fresh one."""
    shared = _shared_worker.pop("worker", None)
    if shared is not None:
        shared.kill()
    worker = start_worker(env=store)
    yield worker
    # Idle once the test ends (all final), and named after a store that goes:
    # gone at once, the next test's shared worker is a fresh one.
    worker.kill()


def _keys() -> set[str]:
    from django.conf import settings

    client = objectstore.store().connection.meta.client
    answer = client.list_objects_v2(Bucket=settings.DOJO_S3_BUCKET)
    return {item["Key"] for item in answer.get("Contents", [])}


def _upload_bound_holds_from_the_namespace(netns) -> None:
    """From the runner's side of the veth, the store refuses an upload of
    another length, other bytes or without the signed checksum, and keeps
    nothing of them; the signed bytes on a URL made alike are stored whole."""
    body = "a model, as far as the store can tell " * 40
    digest = hashlib.sha256(body.encode()).hexdigest()
    tampered, whole = (
        objectstore.upload_url(
            job_id=0, name="model.keras", size=len(body), sha256=digest
        )
        for _ in range(2)
    )
    for signed in (tampered, whole):
        assert signed["url"].startswith(f"http://{netns['site']}:"), signed["url"]
    probe = inside(
        netns,
        f'exec "{PYTHON}" -c "$1" "$2" "$3" "$4"',
        TAMPER,
        json.dumps(tampered),
        json.dumps(whole),
        body,
        stdout=subprocess.PIPE,
    )
    status = json.loads(probe.communicate(timeout=60)[0])
    assert status == {
        "longer": 403,
        "shorter": 403,
        "other_bytes": 400,
        "no_checksum_header": 403,
        "as_signed": 200,
    }, status
    assert _keys() == {whole["key"]}
    objectstore.prefix_discard(objectstore.staging_prefix(0))


@pytest.fixture
def site(netns, settings):
    """The site, listening on the host side of the veth pair only."""
    from pytest_django.live_server_helper import LiveServer

    settings.DOJO_RUNNER_QUEUES = ["train-cpu", "check"]
    settings.DOJO_RUNNER_POLL_SECONDS = 2
    server = LiveServer(f"{netns['site']}:0")
    yield server.url
    server.stop()


def test_a_runner_in_its_namespace_trains_via_the_store_and_the_site_grades(
    netns,
    store,
    site,
    site_worker,
    instructor,
    participant,
    workshop,
    tmp_path,
    settings,
):
    # The join command, as the hosts page shows it to the instructor.
    browser = Client()
    browser.force_login(instructor)
    page = browser.post(
        f"/w/{workshop.slug}/hosts/join/", {"queues": ["train-cpu", "check"]}
    ).content.decode()
    command = re.search(r"bin/dojo-runner --site (\S+) --join (dojoj_[\w-]+)", page)
    assert command, page
    token = command.group(2)

    probe = inside(
        netns,
        f'exec "{PYTHON}" -c "$1" "$2" "$3"',
        PROBE,
        netns["site"],
        str(settings.RUN_DIR),
        stdout=subprocess.PIPE,
    )
    seen = json.loads(probe.communicate(timeout=60)[0])
    assert not any(seen["reach"].values()), seen["reach"]
    assert not set(SECRETS) & set(seen["env"]), seen["env"]
    assert seen["site_files"] is False, "the site's var/ is visible to the runner"
    _upload_bound_holds_from_the_namespace(netns)

    mlp = workshop.assignments.get(slug="mlp")
    submission = submission_create(
        participant=participant,
        assignment=mlp,
        upload=SimpleUploadedFile("train.py", TINY),
    )
    # The same runner takes the check first (a participant waits at the editor).
    check = check_run_create(
        participant=participant, assignment=mlp, source=TINY.decode()
    )
    log = tmp_path / "runner.log"
    runner = inside(
        netns,
        'exec timeout 400 "$1" -m dojo_runner --site "$2" --join "$3" '
        "--name netns-runner --dir var/runner --jobs 2",
        str(PYTHON),
        site,
        token,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:

        def final():
            submission.refresh_from_db()
            check.refresh_from_db()
            if runner.poll() not in (None, 0):
                pytest.fail(f"the runner stopped:\n{log.read_text()[-3000:]}")
            return check.status not in ACTIVE_CHECK_STATUSES and submission.status in (
                Status.GRADED,
                Status.FAILED,
                Status.ERROR,
            )

        wait_for(final, timeout=380, what="the runner's check and submission to end")
        assert runner.wait(timeout=60) == 0, log.read_text()[-3000:]
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(10)
    assert submission.status == Status.GRADED, (
        submission.status_reason,
        log.read_text()[-3000:],
    )
    train, evaluate = submission.runs.order_by("started_at")
    host = Host.objects.get()
    assert (train.kind, train.worker) == (Run.Kind.TRAIN, host.worker_name)
    assert train.host == "netns-runner" and "val_accuracy" in train.log
    # As the runner described its sandbox (this machine: cgroup v1 memory).
    assert train.isolation.startswith("runner netns-runner: cgroup")
    assert train.artifact_path and Path(train.artifact_path).is_file()
    # Graded on the site's own worker, not on the runner.
    assert evaluate.kind == Run.Kind.EVALUATE
    # The site's worker (the one running), never the runner: a runner only
    # trains.
    assert evaluate.worker == site_worker.name
    assert evaluate.worker != train.worker and host.name not in evaluate.worker
    assert submission.current_grade.report["history"]["loss"]
    # The check: trained on the runner (on the check slice), its model checked
    # on the site's own check worker, with an indicative figure.
    assert check.status == CheckStatus.PASSED, (check.reason, check.log[-3000:])
    (trained,) = check.host_jobs.all()
    assert trained.host == host and trained.result_at is not None
    assert "images: (500," in check.log
    assert "Training finished on a runner host." in check.log
    assert check.worker == site_worker.name
    assert host.name not in check.worker
    assert 0 <= check.result["indicative_accuracy"] <= 1
    assert all(c["passed"] for c in check.result["checks"])
    assert host.jobs_done == 2 and host.last_heartbeat_at is not None
    # Every file moved through the store: the scripts and the two training
    # splits (the check's slice, the submission's) by content name; each model
    # staged by presigned PUT, read back by the site's worker and kept as the
    # bytes the runner announced, its staging objects gone. Nothing hidden.
    for job in HostJob.objects.all():
        note = job.uploads["model.keras"]
        assert note["key"].startswith(objectstore.staging_prefix(job.pk)), note
        assert job.pending is None
    kept = Path(train.artifact_path).read_bytes()
    assert (
        hashlib.sha256(kept).hexdigest()
        == train.host_job.uploads["model.keras"]["sha256"]
    )
    keys = _keys()
    assert {key.split("/")[0] for key in keys} == {"scripts", "data"}, keys
    assert len([key for key in keys if key.startswith("data/")]) == 2, keys
