"""Warm spares on a runner host: one per slot, started only when the site has no
job for it, taken only by a job of exactly its sandbox, never waited for.

Real bubblewrap sandboxes; a real HTTP server on loopback stands in for the site
(no Django here). A spare warms `fractions` instead of Keras (the cheapest
module the job's runner code does not import itself), so a job that prints
whether it is already imported says whether it ran in the spare.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import re
import tarfile
import tempfile
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dojo_runner.cli import Runner, _arguments, host_facts
from dojo_runner.client import Site
from dojo_runner.jobs import JobRunner, Running
from dojo_runner.spares import SpareSettings
from tests.helpers import wait_for
from workers import sandbox
from workers.jobspec import DataRef, JobSpec

# Prints where it runs (the folder its output is in: a spare's own, or the
# job's; the log shows paths under the work dir only relative to it) and
# whether what the spare warms was imported before it started.
SCRIPT = """
import os, sys
out = os.environ["DOJO_OUTPUT_DIR"]
print("FOLDER", out.split("/")[-3])
print("WARMED" if "fractions" in sys.modules else "COLD")
with open(os.path.join(out, "model.keras"), "wb") as handle:
    handle.write(b"a model " * {n})
"""
WARM = ("fractions",)
# A spare that never gets warm: its prelude waits far past any test.
NEVER_WARM = "import time\ntime.sleep(3600)"


def _tar(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class FakeSite:
    """The runner API on loopback: hands out jobs, keeps uploads and results.

    ``answers`` are what successive requests for work get: a job number (201
    with its handout) or None (204); a callable is called first (it may wait
    for the runner's spare), then its answer is used.
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {"/data": _tar({"train.npz": b"numbers"})}
        self.handouts: dict[int, dict] = {}
        self.answers: list[int | None | Callable[[], int | None]] = []
        self.requests: list[dict] = []
        self.results: dict[int, dict] = {}
        self.uploads: dict[str, bytes] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def _json(self, status: int, body: dict | None) -> None:
                raw = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _read(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def do_GET(self) -> None:
                body = site.files[self.path]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_PUT(self) -> None:
                site.uploads[self.path] = self._read()
                self._json(201, None)

            def do_POST(self) -> None:
                body = json.loads(self._read() or b"{}")
                if self.path == "/runner/v1/jobs/request":
                    site.requests.append(body)
                    answer = site.answers.pop(0) if site.answers else None
                    if callable(answer):
                        answer = answer()
                    if answer is None:
                        return self._json(204, None)
                    return self._json(201, site.handouts[answer])
                job = int(re.match(r"/runner/v1/jobs/(\d+)/", self.path).group(1))
                if self.path.endswith("/uploads"):
                    return self._json(200, {"url": f"/put/{job}/{body['name']}"})
                site.results[job] = body
                return self._json(200, {"verdict": "trained"})

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.site = Site(f"http://127.0.0.1:{self.server.server_address[1]}")

    def job(self, number: int, *, wall_seconds: float = 60) -> int:
        """Make job ``number``'s handout: its own script, the one training split."""
        script = SCRIPT.format(n=number).encode()
        archive = self.files["/data"]
        digest = hashlib.sha256(archive).hexdigest()
        spec = JobSpec(
            version=1,
            kind="train",
            job_id=f"run:{number}",
            keras_backend="tensorflow",
            sandbox_backend="bwrap",
            script_sha256=hashlib.sha256(script).hexdigest(),
            data=(DataRef(name="train", mount="/data", digest=digest),),
            limits={"wall_seconds": wall_seconds},
            returns=("model.keras",),
        )
        self.files[f"/script/{number}"] = script
        self.handouts[number] = {
            "job": number,
            "spec": spec.to_dict(),
            "script": {
                "url": f"/script/{number}",
                "sha256": spec.script_sha256,
                "size": len(script),
            },
            "data": [
                {
                    "name": "train",
                    "mount": "/data",
                    "sha256": digest,
                    "size": len(archive),
                    "url": "/data",
                }
            ],
            "heartbeat_seconds": 3,
        }
        return number

    def log(self, number: int) -> str:
        return self.results[number]["result"]["log"]

    def isolation(self, number: int) -> str:
        return self.results[number]["isolation"]


@pytest.fixture
def site() -> Iterator[FakeSite]:
    fake = FakeSite()
    yield fake
    fake.server.shutdown()


@pytest.fixture
def root() -> Iterator[Path]:
    """The runner's folder, which the sandbox uid can traverse (tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="dojo-runner-test-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    sandbox.remove_tree(path)


@pytest.fixture
def runner(site, root) -> Iterator[Callable[..., JobRunner]]:
    made: list[JobRunner] = []

    def make(**settings) -> JobRunner:
        jobs = JobRunner(
            site=site.site,
            root=root,
            plan=sandbox.host_prepare(backend="bwrap", probe=False),
            backend="bwrap",
            spares=SpareSettings(**{"warm": WARM, **settings}),
        )
        made.append(jobs)
        return jobs

    yield make
    for jobs in made:
        jobs.spares.close()


def _run(jobs: JobRunner, site: FakeSite, number: int, slot: int = 0) -> None:
    jobs.run(site.handouts[number], slot, Running(job=number))
    assert site.results[number]["result"]["ending"] == "ok", site.log(number)


def _folder(site: FakeSite, number: int) -> str:
    return re.search(r"FOLDER (\S+)", site.log(number)).group(1)


def test_a_job_of_the_same_sandbox_runs_in_the_warm_spare(site, runner) -> None:
    """After a job, the slot's spare is the sandbox that job ran in, started
    ahead; the next job of the same data and limits runs in it (its folder, its
    imports) and gives back its model as a cold job does."""
    jobs = runner(enabled=True)
    _run(jobs, site, site.job(1))
    assert "COLD" in site.log(1) and not site.isolation(1).startswith("warm spare")
    pool = jobs.spares.pool(0)
    assert pool.spare is None, "a spare starts only once the site has no job"
    jobs.spares.keep(0)  # what a slot does when the site answers 204
    spare = pool.spare
    assert spare is not None and spare.alive()
    wait_for(spare.ready, timeout=120, what="the spare to be warm")

    _run(jobs, site, site.job(2))
    assert "WARMED" in site.log(2), site.log(2)
    assert _folder(site, 2) == spare.owned[0].name, site.log(2)
    assert site.isolation(2).startswith("warm spare; ")
    assert site.uploads["/put/2/model.keras"] == b"a model " * 2
    assert not spare.alive() and not spare.owned[0].exists()
    assert pool.spare is None and pool.due(), "the next one waits for an idle site"


def test_a_job_of_another_sandbox_kills_the_spare_and_runs_cold(site, runner) -> None:
    """Other limits are another sandbox: the spare is not used."""
    jobs = runner(enabled=True)
    _run(jobs, site, site.job(1))
    jobs.spares.keep(0)
    spare = jobs.spares.pool(0).spare
    wait_for(spare.ready, timeout=120, what="the spare to be warm")

    _run(jobs, site, site.job(2, wall_seconds=33))
    assert "COLD" in site.log(2), site.log(2)
    assert not site.isolation(2).startswith("warm spare")
    assert _folder(site, 2) != spare.owned[0].name
    assert not spare.alive() and not spare.owned[0].exists()


def test_a_job_never_waits_for_a_spare_still_warming(site, runner) -> None:
    """The spare of exactly its sandbox, still warming, is killed; the job runs
    cold at once (this spare would never be warm)."""
    jobs = runner(enabled=True, prelude=NEVER_WARM)
    _run(jobs, site, site.job(1))
    jobs.spares.keep(0)
    spare = jobs.spares.pool(0).spare
    assert spare is not None and spare.alive() and not spare.ready()

    _run(jobs, site, site.job(2))
    assert "COLD" in site.log(2), site.log(2)
    assert not site.isolation(2).startswith("warm spare")
    assert not spare.alive() and not spare.owned[0].exists()


def test_a_spare_older_than_its_max_age_is_not_taken(site, runner) -> None:
    """A spare past its max age is killed by the next job, which runs cold."""
    jobs = runner(enabled=True, max_age_seconds=0)
    _run(jobs, site, site.job(1))
    jobs.spares.keep(0)
    spare = jobs.spares.pool(0).spare
    wait_for(spare.ready, timeout=120, what="the spare to be warm")
    _run(jobs, site, site.job(2))
    assert "COLD" in site.log(2) and not spare.alive()


def test_a_job_kills_other_slots_spares_still_warming_not_warm_ones(
    site, runner
) -> None:
    """The runner has work: a spare warming in another slot competes with it
    for the CPU and goes; a warm one only holds memory and stays."""
    never = runner(enabled=True, prelude=NEVER_WARM)
    _run(never, site, site.job(1), slot=1)
    never.spares.keep(1)
    warming = never.spares.pool(1).spare
    assert warming is not None and warming.alive()
    _run(never, site, site.job(2), slot=0)
    assert not warming.alive() and never.spares.pool(1).spare is None

    jobs = runner(enabled=True)
    _run(jobs, site, site.job(3), slot=1)
    jobs.spares.keep(1)
    warm = jobs.spares.pool(1).spare
    wait_for(warm.ready, timeout=120, what="the spare to be warm")
    _run(jobs, site, site.job(4), slot=0)
    assert warm.alive() and jobs.spares.pool(1).spare is warm


def _runner_loop(site: FakeSite, jobs: JobRunner, root: Path, count: int) -> None:
    """Run one slot of the runner's main loop until it has run ``count`` jobs."""
    args = argparse.Namespace(jobs=count, dir=root)
    loop = Runner(site.site, jobs, args)
    loop.slot_forever(0)
    assert loop.done == count


def test_the_runner_starts_a_spare_only_when_the_site_has_no_job(
    site, runner, root, caplog
) -> None:
    """After a job the slot asks without waiting; the site has none, so the
    spare starts and the long poll waits; the next job takes the warm spare."""
    jobs = runner(enabled=True)
    pool = jobs.spares.pool(0)

    def once_warm() -> int:
        wait_for(pool.spare_ready, timeout=60, what="the spare to be warm")
        return site.job(2)

    site.answers = [site.job(1), None, once_warm]
    with caplog.at_level(logging.INFO, logger="dojo_runner.spares"):
        _runner_loop(site, jobs, root, 2)
    assert site.requests == [{}, {"wait": False}, {}]
    assert "COLD" in site.log(1) and "WARMED" in site.log(2)
    assert site.isolation(2).startswith("warm spare; ")
    assert caplog.text.count("Starting a warm spare") == 1


def test_with_work_waiting_the_runner_starts_no_spare(
    site, runner, root, caplog
) -> None:
    """The site answers the request without waiting with a job: it runs cold,
    and no spare ever starts."""
    jobs = runner(enabled=True)
    site.answers = [site.job(1), site.job(2)]
    with caplog.at_level(logging.INFO, logger="dojo_runner.spares"):
        _runner_loop(site, jobs, root, 2)
    assert site.requests == [{}, {"wait": False}]
    assert "COLD" in site.log(2)
    assert "Starting a warm spare" not in caplog.text


def test_a_spare_that_cannot_start_is_tried_again_only_after_a_long_poll(
    site, runner, root
) -> None:
    """No busy loop of requests that do not wait: between two, the slot waits
    for work as usual."""
    jobs = runner(enabled=True, warm=("not a module!",))
    site.answers = [site.job(1), None, None, site.job(2)]
    _runner_loop(site, jobs, root, 2)
    assert site.requests == [{}, {"wait": False}, {}, {"wait": False}]
    assert "COLD" in site.log(2) and jobs.spares.pool(0).spare is None


def test_no_spares_starts_none(site, runner, root, caplog) -> None:
    """--no-spares: the slot only long-polls, and every job runs cold."""
    jobs = runner(enabled=False)
    site.answers = [site.job(1), None, site.job(2)]
    with caplog.at_level(logging.INFO, logger="dojo_runner.spares"):
        _runner_loop(site, jobs, root, 2)
    assert site.requests == [{}, {}, {}]
    assert "COLD" in site.log(2) and not site.isolation(2).startswith("warm")
    assert "Starting a warm spare" not in caplog.text
    assert jobs.spares.pool(0).spare is None


def test_spares_are_on_by_default_and_reported_on_register() -> None:
    """As users run it: on unless --no-spares; the hosts page shows what the
    runner said when it joined."""
    on = _arguments(["--site", "http://site"])
    off = _arguments(["--site", "http://site", "--no-spares"])
    assert on.spares is True and off.spares is False
    plan = sandbox.host_prepare(backend="local", probe=False)
    assert host_facts(on, plan)["spares"]["enabled"] is True
    assert host_facts(off, plan)["spares"] == {
        "enabled": False,
        "max_age_seconds": 900,
        "memory_mb_each": 0,
    }
    with pytest.raises(SystemExit):
        _arguments(["--site", "http://site", "--spare-max-age", "nan"])
