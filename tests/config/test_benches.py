"""Benchmarks cannot rot: each has a quick mode, and `make bench-smoke` runs them.

The static check runs in `make test`; running every quick mode takes minutes
(each starts workers or sandboxes), so that case is marked `bench` and runs in
`make bench-smoke` (CI calls it after `make test` and `make faults`).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHES = sorted(p for p in (ROOT / "bench").glob("[!_]*.py"))


def test_every_bench_script_has_a_quick_mode():
    missing = [p.name for p in BENCHES if "--quick" not in p.read_text()]
    assert BENCHES and missing == []


@pytest.mark.bench
@pytest.mark.parametrize("script", BENCHES, ids=[p.stem for p in BENCHES])
def test_bench_quick_mode_runs(script: Path):
    """The quick mode runs the bench's own code path against the current pack."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DOJO_TEST_DATABASE_NAME", "DJANGO_SETTINGS_MODULE")
    }
    # Its own run id: its own test database, files and Redis prefix.
    env["DOJO_TEST_RUN_ID"] = f"{os.getpid()}-{script.stem}"
    done = subprocess.run(
        [sys.executable, str(script), "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
