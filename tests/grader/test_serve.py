"""The predictor's serve loop, in this process: what it loads, and what it refuses."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader._serve import _Models, answer

# A 100-layer MLP takes seconds to load, a two-layer one about 20 ms:
# a budget between them is past by one and far from the other.
LOAD_SECONDS = 0.4


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, keras_mod: Any) -> Path:
    """A models folder with a quick model, a slow-to-load one and a broken one."""
    keras = keras_mod
    out = tmp_path_factory.mktemp("models")
    quick = [keras.Input((8, 8, 1)), keras.layers.Flatten()]
    keras.Sequential([*quick, keras.layers.Dense(5, activation="softmax")]).save(
        out / "quick.keras"
    )
    deep = [keras.layers.Dense(4) for _ in range(100)]
    keras.Sequential([*quick, *deep, keras.layers.Dense(5)]).save(out / "slow.keras")
    (out / "broken.keras").write_bytes(b"PK\x03\x04 not a whole archive")
    return out


def _ask(models: _Models, key: str) -> dict[str, Any]:
    pixels = base64.b64encode(np.zeros(64, np.uint8).tobytes()).decode()
    return answer({"model": key, "pixels": pixels}, models)


def test_a_model_slow_to_load_is_abandoned_and_refused_from_then_on(
    folder: Path,
) -> None:
    """A load past the budget is given up (the process goes on answering), its
    requester is told why, and the model is refused again without a load."""
    models = _Models(folder, load_seconds=LOAD_SECONDS)
    assert len(_ask(models, "quick")["top"]) == 3
    refused = _ask(models, "slow")
    assert refused.get("refused") is True, refused
    assert "longer than 0.4 s to load" in refused["error"]
    assert "slow" not in models.loaded
    assert len(_ask(models, "quick")["top"]) == 3
    # Refused from memory: there is nothing left to load.
    (folder / "slow.keras").rename(folder / "slow.keras.away")
    try:
        assert _ask(models, "slow") == refused
    finally:
        (folder / "slow.keras.away").rename(folder / "slow.keras")


def test_a_model_that_cannot_be_loaded_is_remembered(folder: Path) -> None:
    """A broken file is read once: the next request is refused from memory."""
    models = _Models(folder, load_seconds=LOAD_SECONDS)
    first = _ask(models, "broken")
    assert first["refused"] is True and "cannot be loaded" in first["error"]
    assert "broken" in models.refused
    assert _ask(models, "broken") == first


def test_a_missing_file_is_not_held_against_the_model(
    folder: Path, tmp_path: Path
) -> None:
    """No file (the worker has not placed it yet) is the platform's doing: the
    answer says to try again, and the model is not refused."""
    models = _Models(tmp_path, load_seconds=LOAD_SECONDS)
    missing = _ask(models, "quick")
    assert "Try again" in missing["error"] and "refused" not in missing
    (tmp_path / "quick.keras").write_bytes((folder / "quick.keras").read_bytes())
    assert len(_ask(models, "quick")["top"]) == 3


class _Watched(_Models):
    """The real model cache, noting what the "working" marker says on each load."""

    def __init__(self, folder: Path, marker: Path) -> None:
        super().__init__(folder, load_seconds=LOAD_SECONDS)
        self.marker, self.seen = marker, []

    def get(self, key: str) -> Any:
        self.seen.append(self.marker.read_text())
        return super().get(key)


def test_the_working_marker_names_the_request_and_model_until_answered(
    folder: Path, tmp_path: Path
) -> None:
    """While a request is worked on, "working" names it and its model (what a
    worker blames when its wait runs out); once answered, it is gone."""
    from grader._memory import PeakMemory
    from grader._serve import WORKING, handle

    for sub in ("requests", "responses"):
        (tmp_path / sub).mkdir()
    models = _Watched(folder, tmp_path / WORKING)
    pixels = base64.b64encode(np.zeros(64, np.uint8).tobytes()).decode()
    asked = tmp_path / "requests" / "17-0123abcd.json"
    asked.write_text(json.dumps({"model": "quick", "pixels": pixels}))
    handle(asked, tmp_path, models, PeakMemory())
    assert models.seen == ["17-0123abcd.json quick\n"]
    assert not (tmp_path / WORKING).exists() and not asked.exists()
    reply = json.loads((tmp_path / "responses" / asked.name).read_text())
    assert len(reply["top"]) == 3
