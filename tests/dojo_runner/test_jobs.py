"""The runner's own checks on what the site sends: files by size and sha256,
a data archive unpacked once per digest and never outside its folder.

A real HTTP server on loopback stands in for the site (no Django here)."""

import hashlib
import io
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dojo_runner import client
from dojo_runner.client import Site, SiteError
from dojo_runner.jobs import JobRunner, unpack
from workers import sandbox


def _tar(members: dict[str, bytes], *, link: str = "") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo(link)
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            tar.addfile(info)
    return buffer.getvalue()


@pytest.fixture
def served():
    """Serve one body at any path; count the GETs. The first `cuts` answers
    announce the whole body, send half of it and close the connection (as the
    site does to a download that stalled)."""
    state = {"body": b"", "gets": 0, "cuts": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state["gets"] += 1
            body = state["body"]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if state["gets"] <= state["cuts"]:
                body = body[: len(body) // 2]
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["site"] = Site(f"http://127.0.0.1:{server.server_address[1]}")
    yield state
    server.shutdown()


def test_a_download_without_the_announced_size_or_sha256_is_not_kept(served, tmp_path):
    served["body"] = b"print('hi')\n"
    target = tmp_path / "submission.py"
    good = hashlib.sha256(served["body"]).hexdigest()
    with pytest.raises(SiteError):
        served["site"].download("/x", target, sha256="0" * 64, size=12)
    with pytest.raises(SiteError):
        served["site"].download("/x", target, sha256=good, size=5)
    assert list(tmp_path.iterdir()) == []
    served["site"].download("/x", target, sha256=good, size=12)
    assert target.read_bytes() == served["body"]


def test_a_download_cut_midway_is_fetched_again_and_only_whole_kept(
    served, tmp_path, monkeypatch
):
    monkeypatch.setattr(client, "FIRST_PAUSE", 0)
    served["body"] = body = b"numbers " * 4096
    good = hashlib.sha256(body).hexdigest()
    target = tmp_path / "train.tar"
    served["cuts"] = 1
    served["site"].download("/d", target, sha256=good, size=len(body))
    assert target.read_bytes() == body and served["gets"] == 2
    assert list(tmp_path.iterdir()) == [target]

    target.unlink()
    served["gets"], served["cuts"] = 0, client.RETRIES
    with pytest.raises(SiteError, match="a download failed") as refused:
        served["site"].download("/d", target, sha256=good, size=len(body))
    assert refused.value.unreachable
    assert served["gets"] == client.RETRIES and list(tmp_path.iterdir()) == []


def test_the_split_is_fetched_once_per_digest(served, tmp_path):
    served["body"] = _tar({"train.npz": b"numbers"})
    digest = hashlib.sha256(served["body"]).hexdigest()
    runner = JobRunner(
        site=served["site"],
        root=tmp_path,
        plan=sandbox.host_prepare(backend="local", probe=False),
        backend="local",
    )
    ref = {"url": "/d", "sha256": digest, "size": len(served["body"])}
    first = runner.data_folder(ref)
    assert (first / "train.npz").read_bytes() == b"numbers"
    assert runner.data_folder(ref) == first and served["gets"] == 1


@pytest.mark.parametrize(
    "archive",
    [
        _tar({"../escape": b"x"}),
        _tar({"/etc/cron.d/evil": b"x"}),
        _tar({"ok": b"x"}, link="train.npz"),
    ],
    ids=["climbs-out", "absolute", "symlink"],
)
def test_an_archive_that_reaches_outside_its_folder_is_refused(archive, tmp_path):
    path = tmp_path / "a.tar"
    path.write_bytes(archive)
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(SiteError, match="the data archive holds"):
        unpack(path, target)
    assert not (tmp_path / "escape").exists()


def test_a_runner_gives_its_jobs_its_own_cpu_quota_not_the_sites():
    """The site's DOJO_SANDBOX_CPUS is sized for the site's host; a runner's job
    may use all of the runner's cores but one (at least one), whatever the
    spec carried. Every other limit is the spec's."""
    import os
    from types import SimpleNamespace

    from dojo_runner.jobs import host_limits
    from workers.sandbox import SandboxLimits

    sent = SandboxLimits(cpus=0.25, memory_bytes=123 * 2**20)
    limits = host_limits(SimpleNamespace(sandbox_limits=lambda: sent))
    assert limits.cpus == max(1.0, (os.cpu_count() or 1) - 1.0)
    assert limits.memory_bytes == sent.memory_bytes


@pytest.mark.parametrize("first_try", ["cut", "given_up"])
def test_an_upload_cut_midway_is_tried_again_with_a_fresh_url(tmp_path, first_try):
    """The first PUT's connection drops half way through the body (or the site
    answers 408: it gave up on a body that stalled): the runner asks for a new
    URL and sends the file whole; a 409 for the job (handed back meanwhile)
    stops it with nothing sent."""
    import json

    from dojo_runner import jobs
    from dojo_runner.jobs import JobGone, Running
    from workers.jobspec import Artifact

    state = {"urls": 0, "puts": [], "refuse": False}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            state["urls"] += 1
            status = 409 if state["refuse"] else 200
            body = json.dumps({"url": f"/put/{state['urls']}", "error": "gone"})
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def do_PUT(self) -> None:
            size = int(self.headers["Content-Length"])
            if not state["puts"] and first_try == "cut":
                state["puts"].append(self.rfile.read(size // 2))
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if not state["puts"]:
                state["puts"].append(self.rfile.read(size))
                body = json.dumps({"error": "upload: no byte arrived for 30 s"})
                self.send_response(408)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())
                return
            state["puts"].append(self.rfile.read(size))
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        runner = JobRunner(
            site=Site(f"http://127.0.0.1:{server.server_address[1]}", timeout=5),
            root=tmp_path,
            plan=sandbox.host_prepare(backend="local", probe=False),
            backend="local",
        )
        model = tmp_path / "model.keras"
        model.write_bytes(b"m" * 100_000)
        artifact = Artifact(
            name="model.keras",
            sha256=hashlib.sha256(model.read_bytes()).hexdigest(),
            size_bytes=100_000,
        )
        running = Running(job=7)
        assert jobs.patiently(
            running, "uploading", lambda: runner._upload_one(7, model, artifact)
        )
        assert state["urls"] == 2 and state["puts"][-1] == model.read_bytes()
        state["refuse"] = True
        with pytest.raises(JobGone):
            runner._upload_one(7, model, artifact)
    finally:
        server.shutdown()
