"""A class burst on the production stack: gunicorn (as the Dockerfile runs it,
gunicorn.conf.py), PostgreSQL, Redis and a real worker with beat.

Runs `bench/burst.py --quick` in its own process, on its own database, and
asserts the promises, never the times: no 5xx, no `error`, nothing lost,
every upload accepted, every submission final.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.faults


def test_a_class_burst_on_postgresql_loses_nothing_and_answers_no_5xx():
    url = os.environ.get("DATABASE_URL", "")
    assert url.startswith("postgres"), "The burst case runs on PostgreSQL (make faults)"
    assert os.environ.get("REDIS_URL"), "The burst case runs on Redis (make faults)"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DOJO_TEST_DATABASE_NAME", "DJANGO_SETTINGS_MODULE")
    }
    # Its own run id: its own database, files and Redis prefix.
    env["DOJO_TEST_RUN_ID"] = f"{os.getpid()}-burst"
    done = subprocess.run(
        [sys.executable, "bench/burst.py", "--quick", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("SUMMARY "))
    summary = json.loads(line.removeprefix("SUMMARY "))
    assert summary["five_xx"] == 0, out[-3000:]
    assert summary["error"] == 0, out[-3000:]
    assert summary["lost"] == 0, out[-3000:]
    assert summary["accepted"] == summary["sent"] > 0, out[-3000:]
    assert summary["final"], out[-3000:]
