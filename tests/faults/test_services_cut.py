"""The broker restarts, or the database drops the worker's connections, mid-run."""

import socket
import subprocess
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from submissions.models import Run, Status
from submissions.services.intake import submission_create
from tests.faults.conftest import assert_promises, settle
from tests.helpers import ROOT, wait_for

pytestmark = [
    pytest.mark.faults,
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
]

MLP_SOLUTION = (ROOT / "assignments" / "dl101" / "mlp" / "solution.py").read_bytes()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A redis-server of the test's own, on its own port, with no persistence."""

    def __init__(self, port: int, folder) -> None:
        self.port, self.folder = port, folder
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )

        def answers() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", self.port), 1) as sock:
                    sock.sendall(b"PING\r\n")
                    return sock.recv(16).startswith(b"+PONG")
            except OSError:
                return False

        wait_for(answers, timeout=20, what="redis-server to answer")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(_free_port(), tmp_path)
    server.start()
    yield server
    server.kill()


def _training_under_way(submission) -> bool:
    return Run.objects.filter(
        submission=submission,
        kind=Run.Kind.TRAIN,
        finished_at__isnull=True,
        log__contains="Epoch",
    ).exists()


def test_broker_restarted_mid_run(
    fault_worker, redis_server, participant, workshop, outbox
):
    """Messages in the broker are lost; the database-driven reconciler resends."""
    # The test process talks to its own broker; only the worker uses this one,
    # so the first message is lost too and the worker's reconciler sends it.
    fault_worker(CELERY_BROKER_URL=f"redis://127.0.0.1:{redis_server.port}/0")
    submission = submission_create(
        participant=participant,
        assignment=workshop.assignments.get(slug="mlp"),
        upload=SimpleUploadedFile("train.py", MLP_SOLUTION),
    )
    wait_for(lambda: _training_under_way(submission), timeout=180, what="training")
    redis_server.kill()
    time.sleep(1)  # the worker sees the broker gone
    redis_server.start()
    (submission,) = settle([submission])
    assert submission.status == Status.GRADED, submission.status_reason
    assert_promises([submission])


def test_database_connections_cut_mid_run(fault_worker, participant, workshop):
    """pg_terminate_backend on the worker's connections while it trains."""
    assert connection.vendor == "postgresql", (
        "this fault needs PostgreSQL: set DATABASE_URL (make faults does)"
    )
    fault_worker()
    submission = submission_create(
        participant=participant,
        assignment=workshop.assignments.get(slug="mlp"),
        upload=SimpleUploadedFile("train.py", MLP_SOLUTION),
    )
    wait_for(lambda: _training_under_way(submission), timeout=180, what="training")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        (cut,) = cursor.fetchone()
    assert cut >= 1, "the worker held no connection to cut"
    (submission,) = settle([submission])
    assert submission.status == Status.GRADED, submission.status_reason
    assert_promises([submission])
