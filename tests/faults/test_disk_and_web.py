"""A full disk under the var dir, and the web process restarted mid-upload."""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from submissions.models import Submission
from submissions.services.intake import submission_create, submissions_used_today
from tests.faults.conftest import assert_promises, settle
from tests.helpers import ROOT, wait_for

pytestmark = [
    pytest.mark.faults,
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
]

MLP_SOLUTION = (ROOT / "assignments" / "dl101" / "mlp" / "solution.py").read_bytes()


@pytest.fixture
def small_disk(tmp_path):
    """A 256 KiB tmpfs, filled to its last few KiB."""
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k,mode=0777", "tmpfs", str(mount)],
        check=True,
    )
    try:
        fd = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"x" * 4096):
                pass
        except OSError:
            pass  # full
        finally:
            os.close(fd)
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _upload(name: str = "train.py", code: bytes = MLP_SOLUTION) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, code)


def test_full_disk_during_upload_stores_nothing_then_recovers(
    small_disk, participant, workshop, settings, outbox
):
    """The upload fails whole: no row, no partial file; with space, it works."""
    settings.MEDIA_ROOT = str(small_disk / "media")
    mlp = workshop.assignments.get(slug="mlp")
    big = MLP_SOLUTION + b"#" * (64 * 1024)
    with pytest.raises(ValidationError) as refused:
        submission_create(
            participant=participant, assignment=mlp, upload=_upload(code=big)
        )
    assert "no room" in str(refused.value)
    assert Submission.objects.count() == 0
    stored = [p for p in (small_disk / "media").rglob("*") if p.is_file()]
    assert stored == [], f"a partial upload was left: {stored}"
    (small_disk / "filler").unlink()
    submission = submission_create(
        participant=participant, assignment=mlp, upload=_upload(code=big)
    )
    assert Path(submission.file.path).read_bytes() == big


def test_full_disk_during_artifact_copy_is_a_refunded_platform_error(
    fault_worker, small_disk, participant, workshop
):
    fault_worker(DOJO_ARTIFACT_ROOT=str(small_disk / "artifacts"))
    mlp = workshop.assignments.get(slug="mlp")
    submission = submission_create(
        participant=participant, assignment=mlp, upload=_upload()
    )
    (submission,) = settle([submission])
    assert submission.status == "error", submission.status_reason
    assert "not your fault" in submission.status_reason
    assert submissions_used_today(participant=participant, assignment=mlp) == 0
    assert_promises([submission])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class WebProcess:
    """`manage.py runserver` on the test database, in its own process group."""

    def __init__(self, port: int, log: Path) -> None:
        from django.db import connection

        env = {
            **os.environ,
            "PYTHONPATH": f"{ROOT / 'platform'}{os.pathsep}{ROOT}",
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DOJO_TEST_DATABASE_NAME": str(connection.settings_dict["NAME"]),
        }
        self.port = port
        self.process = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/python"),
                "manage.py",
                "runserver",
                f"127.0.0.1:{port}",
                "--noreload",
            ],
            cwd=ROOT,
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def answers() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                return True
            except OSError:
                return False

        wait_for(answers, timeout=60, what="the web process")

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)


def test_web_restarted_during_an_upload_loses_nothing(tmp_path, participant, workshop):
    """An upload cut by a restart leaves no row; the retry is accepted whole."""
    import requests
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=participant).key
    port = _free_port()
    web = WebProcess(port, tmp_path / "web.log")
    boundary = "dojo-fault-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="assignment"\r\n\r\n'
            f"mlp\r\n--{boundary}\r\nContent-Disposition: form-data; "
            f'name="file"; filename="train.py"\r\n'
            f"Content-Type: text/x-python\r\n\r\n"
        ).encode()
        + MLP_SOLUTION
        + f"\r\n--{boundary}--\r\n".encode()
    )
    head = (
        f"POST /api/submissions/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Token {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), 10) as sock:
        sock.sendall(head + body[: len(body) // 2])
        time.sleep(1)  # the server is reading the body
        web.kill()
    assert Submission.objects.count() == 0, "a half upload became a submission"
    web = WebProcess(port, tmp_path / "web.log")
    try:
        response = requests.post(
            f"http://127.0.0.1:{port}/api/submissions/",
            headers={"Authorization": f"Token {token}"},
            data={"assignment": "mlp"},
            files={"file": ("train.py", MLP_SOLUTION)},
            timeout=60,
        )
    finally:
        web.kill()
    assert response.status_code == 201, response.text
    assert Submission.objects.count() == 1
