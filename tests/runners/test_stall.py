"""A runner that stalls mid-upload or mid-download, against a real gunicorn as
production runs it.

The bound lives in the web server's socket, so only a real server shows it: the
site gives up on a body that went silent (keeps nothing, frees the thread, and
the same job's upload then goes through on a fresh URL), and cuts off a
download whose reader stopped reading, so its thread answers the next request.
"""

import hashlib
import os
import signal
import socket
import subprocess

import pytest

from bench._site import free_port, start_web
from runners.files import archive_for, upload_dir
from runners.models import HostJob
from tests.runners.conftest import claim
from workshops import folders

pytestmark = pytest.mark.django_db(transaction=True)

# Seconds of silence the site waits for; the test's own reads wait far longer.
STALL_SECONDS = 1
LIVENESS_SECONDS = 60
# Past all that the buffers between the server and a reader that stopped hold
# (the server's send buffer grows to tcp_wmem's 4 MiB at most here).
LARGE_SPLIT_BYTES = 32 * 1024 * 1024


@pytest.fixture
def gunicorn_site(tmp_path, monkeypatch, settings):
    """gunicorn (gthread, one process of one thread: a request held by a stalled
    peer is then the only one served) on this test's database and uploads."""
    monkeypatch.setenv("DOJO_RUNNER_STALL_SECONDS", str(STALL_SECONDS))
    monkeypatch.setenv("DOJO_RUNNER_UPLOAD_ROOT", str(settings.DOJO_RUNNER_UPLOAD_ROOT))
    port = free_port()
    one_thread = ("--workers", "1", "--threads", "1")
    process = start_web(port, tmp_path / "web.log", "gunicorn", one_thread)
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


def _get(port: int, path: str, *, receive_buffer: int = 0) -> socket.socket:
    """Send a GET of `path`; a `receive_buffer` (bytes) keeps the answer's
    bytes waiting at the server once that little is unread."""
    sock = socket.socket()
    sock.settimeout(LIVENESS_SECONDS)
    if receive_buffer:
        # Before connecting: the window offered to the server follows it.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
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
    cut off after DOJO_RUNNER_STALL_SECONDS, not when its connection
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


@pytest.fixture
def large_split(queued):
    """Make the queued job's training split far larger than any socket buffer
    (the archive is built at the claim; it is removed after, as is the file)."""
    train_dir = folders.assignment_train_dir(queued.assignment_id)
    padding = train_dir / "padding.bin"
    with padding.open("wb") as handle:
        handle.truncate(LARGE_SPLIT_BYTES)
    yield
    archive, _ = archive_for(train_dir)
    archive.unlink(missing_ok=True)
    archive.with_suffix(".sha256").unlink(missing_ok=True)
    padding.unlink()


def test_a_download_whose_reader_stops_is_cut_off_and_its_thread_freed(
    gunicorn_site, host, large_split
):
    """A runner that starts the split's download and stops reading holds the
    server's one thread only until DOJO_RUNNER_STALL_SECONDS pass without room
    to write: then the download is ended (the runner gets less than its
    length, then the end of the connection) and the next request is served."""
    handout = claim(host)
    (data,) = handout["data"]
    assert data["size"] > LARGE_SPLIT_BYTES
    stalled = _get(gunicorn_site, data["url"], receive_buffer=4096)
    # The download has begun: its first bytes wait, unread.
    assert stalled.recv(1, socket.MSG_PEEK)

    script = _answer(_get(gunicorn_site, handout["script"]["url"]))
    assert script.startswith(b"HTTP/1.1 200"), script[:300]
    assert script.endswith(b"\r\n\r\nprint('hi')\n")

    head, _, body = _answer(stalled).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert f"Content-Length: {data['size']}".encode() in head
    assert len(body) < data["size"]
