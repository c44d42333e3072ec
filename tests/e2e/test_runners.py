"""A runner host in its own network namespace trains a submission over HTTP.

The site runs as a live server on the host side of a veth pair; the runner
(`python -m dojo_runner`) runs in a network namespace of its own, in a mount
namespace with a tmpfs over the project's var/ (the site's files are not
there), with an environment that holds no DATABASE_URL, REDIS_URL, settings or
secret. It joins with the command the hosts page shows, trains a real (small)
submission in the bubblewrap sandbox, uploads the model, and the site's own
worker grades it: the hidden split never leaves the site. Where this machine
cannot make namespaces, the test fails with the reason.
"""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from runners.models import Host
from submissions.models import Run, Status
from submissions.services.intake import submission_create
from tests.helpers import wait_for

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

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _sh(*argv: str) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except FileNotFoundError as exc:
        pytest.fail(f"Cannot make the runner's network namespace: {exc}.")
    if done.returncode != 0:
        pytest.fail(
            f"Cannot make the runner's network namespace ({' '.join(argv)}): "
            f"{done.stderr.strip() or done.stdout.strip()}. This test needs root "
            "and `ip netns` (iproute2)."
        )


@pytest.fixture
def netns():
    """A network namespace joined to this one by a veth pair; yields addresses."""
    n = os.getpid() % 10000
    name, outer, inner = f"dojo-r{n}", f"dvh{n}", f"dvr{n}"
    net = f"10.231.{n % 250}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    subprocess.run(["ip", "link", "del", outer], capture_output=True)
    _sh("ip", "netns", "add", name)
    try:
        _sh("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
        _sh("ip", "link", "set", inner, "netns", name)
        _sh("ip", "addr", "add", f"{net}.1/30", "dev", outer)
        _sh("ip", "link", "set", outer, "up")
        _sh("ip", "-n", name, "addr", "add", f"{net}.2/30", "dev", inner)
        _sh("ip", "-n", name, "link", "set", inner, "up")
        _sh("ip", "-n", name, "link", "set", "lo", "up")
        yield {"name": name, "site": f"{net}.1"}
    finally:
        subprocess.run(["ip", "link", "del", outer], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


@pytest.fixture
def site(netns, settings):
    """The site, listening on the host side of the veth pair only."""
    from pytest_django.live_server_helper import LiveServer

    settings.DOJO_RUNNER_QUEUES = ["train-cpu"]
    settings.DOJO_RUNNER_POLL_SECONDS = 2
    server = LiveServer(f"{netns['site']}:0")
    yield server.url
    server.stop()


def _inside(netns: dict, script: str, *args: str, **kwargs):
    """Run `sh -c script` in the runner's namespaces, var/ under a tmpfs."""
    wrapped = (
        f'mount -t tmpfs -o size=2g,mode=0755 dojo-runner-var "{ROOT}/var" && ' + script
    )
    return subprocess.Popen(
        [
            "nsenter",
            f"--net=/run/netns/{netns['name']}",
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            wrapped,
            "sh",
            *args,
        ],
        cwd=ROOT,
        # Nothing of the site's: no settings, database, broker or secret.
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": "/tmp"},
        **kwargs,
    )


def test_a_runner_in_its_own_namespace_trains_and_the_site_grades(
    netns, site, celery_worker, instructor, participant, workshop, tmp_path, settings
):
    # The join command, as the hosts page shows it to the instructor.
    browser = Client()
    browser.force_login(instructor)
    page = browser.post(
        f"/w/{workshop.slug}/hosts/join/", {"queues": ["train-cpu"]}
    ).content.decode()
    command = re.search(r"bin/dojo-runner --site (\S+) --join (dojoj_[\w-]+)", page)
    assert command, page
    token = command.group(2)

    probe = _inside(
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

    submission = submission_create(
        participant=participant,
        assignment=workshop.assignments.get(slug="mlp"),
        upload=SimpleUploadedFile("train.py", TINY),
    )
    log = tmp_path / "runner.log"
    runner = _inside(
        netns,
        'exec timeout 300 "$1" -m dojo_runner --site "$2" --join "$3" '
        "--name netns-runner --dir var/runner --jobs 1",
        str(PYTHON),
        site,
        token,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:

        def final():
            submission.refresh_from_db()
            if runner.poll() not in (None, 0):
                pytest.fail(f"the runner stopped:\n{log.read_text()[-3000:]}")
            return submission.status in (Status.GRADED, Status.FAILED, Status.ERROR)

        wait_for(final, timeout=280, what="the runner's submission to be graded")
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
    # Any of the site's Celery workers (a suite's earlier one may still take
    # it), never the runner: a runner only trains.
    assert evaluate.worker.endswith(celery_worker.name.split("@")[1])
    assert evaluate.worker != train.worker and host.name not in evaluate.worker
    assert submission.current_grade.report["history"]["loss"]
    assert host.jobs_done == 1 and host.last_heartbeat_at is not None
