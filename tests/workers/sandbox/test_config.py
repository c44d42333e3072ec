"""The sandbox has one configuration channel: a validated object set at start."""

import ast
from pathlib import Path

import pytest

from workers.sandbox import SandboxConfig, SandboxUnavailable, sandbox_config
from workers.sandbox._cgroup import job_cgroups
from workers.sandbox._launch import sandbox_uid

SANDBOX = Path(__file__).resolve().parents[3] / "workers" / "sandbox"
# Text that runs inside the job (python -c strings) may read its own environment.
INSIDE_THE_JOB = {"_device.py"}


def _reads_or_writes_environ(path: Path) -> list[int]:
    tree = ast.parse(path.read_text())
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in ("environ", "getenv", "putenv", "unsetenv")
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    ]


def test_no_supervisor_side_sandbox_module_touches_the_environment():
    offenders = {
        path.name: lines
        for path in SANDBOX.glob("*.py")
        if path.name not in INSIDE_THE_JOB
        if (lines := _reads_or_writes_environ(path))
    }
    assert offenders == {}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"cgroup": "v3"}, "DOJO_CGROUP must be one of auto, v1, v2, none, not 'v3'"),
        ({"uid": "nobody"}, "DOJO_SANDBOX_UID must be a uid"),
        ({"uid": 0}, "DOJO_SANDBOX_UID must be a uid above 0"),
        ({"nproc": "-4"}, "DOJO_SANDBOX_NPROC must be a positive number"),
        ({"cpu_weight": "0"}, "DOJO_JOB_CPU_WEIGHT must be a whole number from 1"),
        ({"cpu_weight": "101"}, "DOJO_JOB_CPU_WEIGHT must be a whole number from 1"),
        ({"cpu_weight": "low"}, "DOJO_JOB_CPU_WEIGHT must be a whole number from 1"),
    ],
)
def test_a_bad_setting_is_refused_with_its_name(values, message):
    with pytest.raises(SandboxUnavailable, match=message):
        SandboxConfig.parse(**values)


def test_the_configured_object_is_what_the_sandbox_uses(sandbox_settings):
    config = SandboxConfig.parse(uid="61000", cgroup=" V2 ", nproc="")
    assert config == SandboxConfig(uid=61000, cgroup="v2", nproc=None)
    sandbox_settings(uid=61000)
    assert sandbox_config().uid == 61000 and sandbox_uid() == 61000
    assert sandbox_uid(12345) == 12345


@pytest.mark.parametrize("weight", [12, 50])
def test_a_job_group_takes_the_configured_cpu_weight(sandbox_settings, weight):
    """Jobs yield the CPU to the site's own processes by their cgroup's weight
    (v1 cpu.shares on a 1024 scale, v2 cpu.weight), set before the job runs."""
    sandbox_settings(cpu_weight=weight)
    groups = job_cgroups(memory_bytes=256 * 1024**2, max_processes=64, cpus=1)
    assert groups is not None and groups.cpu is not None, "these tests run as root"
    try:
        if groups.version == 1:
            shares = int((groups.cpu / "cpu.shares").read_text())
            assert shares == round(weight * 1024 / 100)
        else:
            assert int((groups.cpu / "cpu.weight").read_text()) == weight
    finally:
        groups.remove()
