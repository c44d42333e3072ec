"""The runner's loop asks for work as the site says: a real HTTP server on
loopback stands in for the site (no Django here)."""

import json
import logging
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dojo_runner.cli import (
    RETRY_AFTER_LEAST,
    RETRY_AFTER_TOP,
    Runner,
    _arguments,
    retry_after,
)
from dojo_runner.client import Site
from dojo_runner.jobs import JobRunner
from workers import sandbox


@pytest.mark.parametrize(
    ("said", "low", "high"),
    [
        (5.0, 5.0, 6.0),
        (0, RETRY_AFTER_LEAST, RETRY_AFTER_LEAST * 1.2),
        (-3, RETRY_AFTER_LEAST, RETRY_AFTER_LEAST * 1.2),
        (10**400, RETRY_AFTER_TOP, RETRY_AFTER_TOP),
        (1e9, RETRY_AFTER_TOP, RETRY_AFTER_TOP * 1.2),
        (math.inf, RETRY_AFTER_TOP, RETRY_AFTER_TOP * 1.2),
        (math.nan, RETRY_AFTER_TOP, RETRY_AFTER_TOP),
        ("5", RETRY_AFTER_TOP, RETRY_AFTER_TOP),
        (True, RETRY_AFTER_TOP, RETRY_AFTER_TOP),
        (None, RETRY_AFTER_TOP, RETRY_AFTER_TOP),
    ],
)
def test_what_the_site_says_of_when_to_ask_again_is_bounded(said, low, high):
    assert low <= retry_after(said) <= high


def test_a_runner_told_to_ask_later_asks_again_without_a_complaint(caplog, tmp_path):
    """200 with `retry_after` is no error: the slot waits as told and asks
    again (here the second answer refuses the host, which ends the loop)."""
    answers = [
        (200, {"job": None, "retry_after": 0}),
        (401, {"error": "revoked"}),
    ]
    asked = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            asked.append(self.path)
            status, body = answers[min(len(asked), len(answers)) - 1]
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    site = Site(f"http://127.0.0.1:{server.server_address[1]}", timeout=10)
    jobs = JobRunner(
        site=site,
        root=tmp_path,
        plan=sandbox.host_prepare(backend="local", probe=False),
        backend="local",
    )
    runner = Runner(site, jobs, _arguments(["--site", site.base, "--no-spares"]))
    try:
        with caplog.at_level(logging.WARNING, logger="dojo_runner"):
            runner.slot_forever(0)
    finally:
        server.shutdown()
    assert asked == ["/runner/v1/jobs/request"] * 2
    assert runner.stop.is_set()
    assert not [r for r in caplog.records if "Asking for work" in r.getMessage()]
