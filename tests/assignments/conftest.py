"""Fixtures: the DL101 data folders, materialized once per session."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parents[2]
PACK = REPO / "assignments" / "dl101"
SLUGS = ("mlp", "cnn", "transfer")


def load_spec(slug: str) -> dict[str, Any]:
    """Return the DL101 spec for ``slug``."""
    return json.loads((PACK / slug / "spec.json").read_text())


@pytest.fixture(scope="session")
def data_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Materialize each assignment's data; the transfer folder gets base.keras."""
    from assignments.datasets import materialize
    from assignments.transfer import build_base

    dirs = {}
    for slug in SLUGS:
        out = tmp_path_factory.mktemp(f"data-{slug}")
        materialize(load_spec(slug)["dataset"], out)
        dirs[slug] = out
    build_base(dirs["transfer"] / "base.keras", seed=0)
    return dirs


def training_env(data_dir: Path, output_dir: Path) -> dict[str, str]:
    """Return the environment a training sandbox would give participant code."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin"),
        "HOME": str(output_dir),
        "DOJO_DATA_DIR": str(data_dir),
        "DOJO_OUTPUT_DIR": str(output_dir),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "OMP_NUM_THREADS": "1",
    }
