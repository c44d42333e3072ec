"""The runner's loop asks for work as the site says: a real HTTP server on
loopback stands in for the site (no Django here)."""

import json
import logging
import math
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

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
from tests.helpers import ROOT
from workers import sandbox
from workers.jobspec import DataRef, JobSpec


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


def test_a_runner_asked_for_a_gpu_this_host_lacks_refuses_to_start(tmp_path):
    """`bin/dojo-runner --gpu 63` on a host without /dev/nvidia63 exits 2,
    saying what to fix, before it spends its join token: the site hears
    nothing and no credential is kept (the real command, as an operator runs
    it, and the site's GPU worker's host checks)."""
    # The highest card number the runner accepts: no host of ours has it, so
    # the refusal is tested on GPU hosts too (never a skip).
    assert not Path("/dev/nvidia63").exists()
    asked = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            asked.append(self.path)
            self.send_response(500)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    site = f"http://127.0.0.1:{server.server_address[1]}"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DOJO_")}
    try:
        done = subprocess.run(
            [ROOT / "bin" / "dojo-runner", "--site", site, "--join", "dojoj_x"]
            + ["--gpu", "63", "--dir", str(tmp_path), "--no-spares"],
            env={**environ, "DOJO_RUNNER_PYTHON": sys.executable},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        server.shutdown()
    assert done.returncode == 2, done.stdout + done.stderr
    assert (
        "dojo-runner: this GPU worker cannot start: /dev/nvidia63 does not exist"
        in (done.stderr)
    )
    assert "set --gpu to a card this host has" in done.stderr
    assert asked == [] and not (tmp_path / "credential").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["--gpu", "-2"],
        ["--gpu", "64"],
        ["--gpu", "zero"],
        ["--gpu-memory-mb", "4096"],  # a slot's share of no card
        ["--gpu", "0", "--gpu-memory-mb", "-1"],
        ["--gpu", "0", "--keras-backend", "theano"],
    ],
)
def test_gpu_options_out_of_bounds_are_refused(argv):
    with pytest.raises(SystemExit):
        _arguments(["--site", "http://site", *argv])


def test_a_gpu_job_is_placed_on_the_card_and_a_cpu_queues_job_off_it(tmp_path):
    """The site says which: a train-gpu job gets the card's device nodes and
    its CUDA_VISIBLE_DEVICES, any other job neither (device nodes stand in
    for a card in a folder of their own: placement only reads them)."""
    dev = tmp_path / "dev"
    dev.mkdir()
    for name in ("nvidia1", "nvidiactl", "nvidia-uvm"):
        (dev / name).touch()
    plan = sandbox.HostPlan(
        cgroups=sandbox.CgroupSupport(None, False, False),
        uid_base=60000,
        slots=2,
        gpu_device=1,
        dev_root=dev,
    )
    jobs = JobRunner(
        site=Site("http://127.0.0.1:9"), root=tmp_path, plan=plan, backend="bwrap"
    )
    spec = JobSpec(
        version=1,
        kind="train",
        job_id="run:1",
        keras_backend="tensorflow",
        sandbox_backend="bwrap",
        script_sha256="a" * 64,
        data=(DataRef(name="train", mount="/data", digest="b" * 64),),
        limits={"wall_seconds": 60},
        returns=("model.keras",),
    )
    _, on_card = jobs._plan(spec, {}, 1, gpu=True)(tmp_path / "job")
    _, off_card = jobs._plan(spec, {}, 1, gpu=False)(tmp_path / "job")
    assert on_card["devices"] == [
        str(dev / n) for n in ("nvidia1", "nvidiactl", "nvidia-uvm")
    ]
    assert on_card["env"]["CUDA_VISIBLE_DEVICES"] == "1"
    assert off_card["devices"] == [] and "CUDA_VISIBLE_DEVICES" not in off_card["env"]


def test_a_restart_with_other_gpus_than_it_joined_with_is_refused(tmp_path):
    """The site sends train-gpu jobs by the GPUs a host named when it joined:
    a host joined without --gpu and restarted with it (or the reverse) would
    get the wrong jobs, so it must join again."""
    from dojo_runner.cli import _credential
    from dojo_runner.client import SiteError

    (tmp_path / "credential").write_text("dojoh_x")
    site = Site("http://127.0.0.1:9")
    args = _arguments(["--site", site.base, "--dir", str(tmp_path)])
    card = {"gpus": [{"index": 0}]}
    assert _credential(site, args, {"gpus": []}) == "dojoh_x"
    with pytest.raises(SiteError, match="joined with GPUs none and now has \\[0\\]"):
        _credential(site, args, card)
    (tmp_path / "joined-gpus.json").write_text("[0]")
    assert _credential(site, args, card) == "dojoh_x"
    with pytest.raises(SiteError, match="remove .*credential and join"):
        _credential(site, args, {"gpus": []})
