"""Fixtures for the sandbox tests: real bwrap, real processes, tiny limits."""

from __future__ import annotations

import os
import re
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.workers.sandbox.sandbox_helpers import RunPy
from workers.sandbox import (
    SandboxConfig,
    SandboxResult,
    Spare,
    check_backend,
    remove_tree,
    run,
    sandbox_config,
    sandbox_configure,
)


@pytest.fixture(scope="session", autouse=True)
def bwrap_ready() -> None:
    """Fail every sandbox test (never skip) when bwrap cannot run here."""
    check_backend("bwrap")


@pytest.fixture
def sandbox_root() -> Iterator[Path]:
    """Return a directory the sandbox uid can traverse (pytest's tmp_path is 0700)."""
    root = Path(tempfile.mkdtemp(prefix="dojo-sbx-test-", dir="/tmp"))
    root.chmod(0o755)
    yield root
    # Work dirs are sized tmpfs mounts: remove_tree detaches them.
    remove_tree(root)


@pytest.fixture
def work_dir(sandbox_root: Path) -> Path:
    path = sandbox_root / "work"
    path.mkdir()
    return path


# The arguments of run() that belong to the job's handover, not its sandbox.
HANDOVER_ARGS = ("on_log", "log_interval", "should_cancel")


@pytest.fixture
def run_py_mode() -> str:
    """Run jobs cold; a module overrides this to run them in spares too."""
    return "cold"


@pytest.fixture
def run_py(work_dir: Path, run_py_mode: str) -> RunPy:
    """Return a function that runs a Python snippet as job.py in the sandbox.

    In "spare" mode the sandbox is a ``Spare`` started with the same arguments
    (numpy warmed: a real import that fits the tests' small memory limits),
    and the job is handed to it once its script is written.
    """

    def _run(code: str, **kwargs: Any) -> SandboxResult:
        script = kwargs.pop("work_dir", work_dir) / "job.py"
        argv = ["python", str(script)]
        if run_py_mode == "cold":
            script.write_text(textwrap.dedent(code))
            return run(argv, work_dir=script.parent, **kwargs)
        handover = {k: kwargs.pop(k) for k in HANDOVER_ARGS if k in kwargs}
        spare = Spare(argv, work_dir=script.parent, warm=("numpy",), **kwargs)
        try:
            script.write_text(textwrap.dedent(code))
            return spare.run(**handover)
        finally:
            spare.discard()

    return _run


@pytest.fixture
def keras_backend() -> str:
    """Return the Keras backend GPU-host tests use (KERAS_BACKEND, else torch)."""
    return os.environ.get("KERAS_BACKEND", "torch")


# Tests that need a GPU host run only when a -m expression names them
# (bin/gpu-host-check): a plain `pytest` or `pytest -m "not faults"` leaves them out.
OPT_IN_MARKERS = ("gpu_host",)


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    chosen = config.getoption("markexpr") or ""
    wanted = {m for m in OPT_IN_MARKERS if re.search(rf"(?<!not ){m}\b", chosen)}
    keep, drop = [], []
    for item in items:
        opt_in = {m for m in OPT_IN_MARKERS if item.get_closest_marker(m)}
        (drop if opt_in - wanted else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
def sandbox_settings() -> Iterator[Callable[..., SandboxConfig]]:
    """Configure the sandbox as a worker does at start (one object); restore after."""
    before = sandbox_config()

    def configure(**values: object) -> SandboxConfig:
        return sandbox_configure(replace(before, **values))

    yield configure
    sandbox_configure(before)
