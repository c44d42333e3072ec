"""A runner that stalls mid-upload, against a real gunicorn as production runs it.

The bound lives in the web server's socket, so only a real server shows it:
the site gives up on a body that went silent, keeps nothing, frees the
thread, and the same job's upload then goes through on a fresh URL.
"""

import hashlib
import os
import signal
import socket
import subprocess

import pytest

from bench._site import free_port, start_web
from runners.files import upload_dir
from runners.models import HostJob
from tests.runners.conftest import claim

pytestmark = pytest.mark.django_db(transaction=True)

# Seconds of silence the site waits for; the test's own reads wait far longer.
STALL_SECONDS = 1
LIVENESS_SECONDS = 60


@pytest.fixture
def gunicorn_site(tmp_path, monkeypatch, settings):
    """gunicorn (gthread, one process: all it takes to show the socket's bound)
    on this test's database and upload folder."""
    monkeypatch.setenv("DOJO_RUNNER_UPLOAD_STALL_SECONDS", str(STALL_SECONDS))
    monkeypatch.setenv("DOJO_RUNNER_UPLOAD_ROOT", str(settings.DOJO_RUNNER_UPLOAD_ROOT))
    port = free_port()
    process = start_web(port, tmp_path / "web.log", "gunicorn", ("--workers", "1"))
    yield port
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def _put(port: int, path: str, size: int, body: bytes) -> socket.socket:
    """Open a PUT of `size` bytes to `path` and send `body` (all or part of it)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=LIVENESS_SECONDS)
    head = (
        f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {size}\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    return sock


def _answer(sock: socket.socket) -> bytes:
    """Read the answer until the server closes (a stuck server times out here)."""
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    sock.close()
    return answer


def test_a_stalled_upload_is_given_up_and_a_fresh_url_then_stores_it(
    gunicorn_site, host, queued
):
    """A runner that sends half its model and goes silent is answered 408 and
    cut off after DOJO_RUNNER_UPLOAD_STALL_SECONDS, not when its connection
    ends; nothing of it stays, and the retry on a fresh URL is stored."""
    job = claim(host)["job"]
    body = os.urandom(256 * 1024)
    digest = hashlib.sha256(body).hexdigest()
    announce = {"name": "model.keras", "size": len(body), "sha256": digest}

    def fresh_url() -> str:
        answer = host.post(f"/runner/v1/jobs/{job}/uploads", announce)
        assert answer.status_code == 200, answer.content
        return answer.json()["url"]

    stalled = _put(gunicorn_site, fresh_url(), len(body), body[: len(body) // 2])
    answer = _answer(stalled)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
    assert b"no byte arrived" in answer
    assert HostJob.objects.get(pk=job).uploads == {}
    assert not [p.name for p in upload_dir(HostJob(pk=job)).iterdir()]

    whole = _answer(_put(gunicorn_site, fresh_url(), len(body), body))
    assert whole.startswith(b"HTTP/1.1 201"), whole[:300]
    assert HostJob.objects.get(pk=job).uploads["model.keras"]["sha256"] == digest
    assert (upload_dir(HostJob(pk=job)) / "model.keras").read_bytes() == body
