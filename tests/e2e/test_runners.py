"""A runner host in its own network namespace trains a submission and a check
run over HTTP.

The site runs as a live server on the host side of a veth pair; the runner
(`python -m dojo_runner`) runs in a network namespace of its own, in a mount
namespace with a tmpfs over the project's var/ (the site's files are not
there), with an environment that holds no DATABASE_URL, REDIS_URL, settings or
secret. It joins with the command the hosts page shows, trains a real (small)
check run and submission in the bubblewrap sandbox, uploads each model, and
the site's own workers check and grade them: the hidden split, and the public
sample cut from it, never leave the site. Where this machine cannot make
namespaces, the test fails with the reason.
"""

import json
import re
import subprocess
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from checks.models import ACTIVE_CHECK_STATUSES, CheckStatus
from checks.services import check_run_create
from runners.models import Host
from submissions.models import Run, Status
from submissions.services.intake import submission_create
from tests.helpers import wait_for
from tests.netns import inside

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


@pytest.fixture
def site(netns, settings):
    """The site, listening on the host side of the veth pair only."""
    from pytest_django.live_server_helper import LiveServer

    settings.DOJO_RUNNER_QUEUES = ["train-cpu", "check"]
    settings.DOJO_RUNNER_POLL_SECONDS = 2
    server = LiveServer(f"{netns['site']}:0")
    yield server.url
    server.stop()


def test_a_runner_in_its_own_namespace_trains_and_the_site_checks_and_grades(
    netns, site, celery_worker, instructor, participant, workshop, tmp_path, settings
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
    # Any of the site's Celery workers (a suite's earlier one may still take
    # it), never the runner: a runner only trains.
    assert evaluate.worker.endswith(celery_worker.name.split("@")[1])
    assert evaluate.worker != train.worker and host.name not in evaluate.worker
    assert submission.current_grade.report["history"]["loss"]
    # The check: trained on the runner (on the check slice), its model checked
    # on the site's own check worker, with an indicative figure.
    assert check.status == CheckStatus.PASSED, (check.reason, check.log[-3000:])
    (trained,) = check.host_jobs.all()
    assert trained.host == host and trained.result_at is not None
    assert "images: (500," in check.log
    assert "Training finished on a runner host." in check.log
    assert check.worker.endswith(celery_worker.name.split("@")[1])
    assert host.name not in check.worker
    assert 0 <= check.result["indicative_accuracy"] <= 1
    assert all(c["passed"] for c in check.result["checks"])
    assert host.jobs_done == 2 and host.last_heartbeat_at is not None
