"""A supervisor that is not root still isolates jobs and limits them with rlimits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[3]
UID = 65534

DRIVER = """
import json, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from workers.sandbox import SandboxLimits, run

work = Path({work!r})
jobs = {{
    "whoami": ("import os; print(os.getuid(), os.geteuid())", SandboxLimits()),
    "hog": ("x = bytearray(5 * 2**30)", SandboxLimits(memory_bytes=256 * 2**20)),
    "loop": ("while True: pass", SandboxLimits(wall_seconds=1)),
    # No tmpfs quota without root: the scan thread counts entries and
    # apparent size instead.
    "files": (
        "import os\\nfor i in range(3000): open(f'f{{i}}', 'w').close()",
        SandboxLimits(max_files=500, wall_seconds=30),
    ),
    "sparse": (
        "open('s', 'wb').truncate(64 * 2**20)",
        SandboxLimits(work_dir_bytes=16 * 2**20, wall_seconds=30),
    ),
}}
out = {{}}
for name, (code, limits) in jobs.items():
    result = run(["python", "-c", code], work_dir=work, limits=limits)
    out[name] = [result.outcome, result.log.strip()[-200:]]
print(json.dumps(out))
"""


def test_non_root_supervisor_falls_back_to_rlimits(sandbox_root: Path) -> None:
    """Without root: no uid drop, cgroups or tmpfs quota, but memory, time, file
    count and apparent disk size are still bounded."""
    assert os.geteuid() == 0, "this test becomes another uid: run it as root, as CI"
    work = sandbox_root / "work-unprivileged"
    work.mkdir()
    os.chown(work, UID, UID)
    driver = textwrap.dedent(DRIVER.format(root=str(PROJECT_ROOT), work=str(work)))
    proc = subprocess.run(
        ["setpriv", f"--reuid={UID}", f"--regid={UID}", "--clear-groups"]
        + [sys.executable, "-c", driver],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["whoami"] == ["ok", f"{UID} {UID}"]
    assert out["hog"][0] == "killed_memory", out["hog"]
    assert out["loop"][0] == "timed_out"
    assert out["files"][0] == "killed_disk", out["files"]
    assert out["sparse"][0] == "killed_disk", out["sparse"]
