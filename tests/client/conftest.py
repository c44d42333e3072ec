"""Fixtures of the command-line client tests."""

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.api.api_builders import use_fresh_cache

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fresh_cache(settings) -> None:
    use_fresh_cache(settings)


@pytest.fixture
def dojo(tmp_path) -> Callable[..., subprocess.CompletedProcess]:
    """Return a runner of `python -m dojo_client ...` in a clean environment."""

    def run(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("DOJO_") and key != "PYTHONPATH"
        }
        environment["DOJO_TOKEN_FILE"] = str(tmp_path / "token")
        environment.update(env)
        return subprocess.run(
            [sys.executable, "-m", "dojo_client", *args],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run
