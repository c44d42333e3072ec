"""Loading the DL101 pack, and clear errors for malformed packs."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from assignments.pack import PackError, load_pack

from .conftest import PACK


def test_dl101_pack_loads() -> None:
    """The pack has three ordered assignments with instructions and specs."""
    pack = load_pack(PACK)
    assert pack.slug == "dl101"
    assert [a.slug for a in pack.assignments] == ["mlp", "cnn", "transfer"]
    assert [a.kind for a in pack.assignments] == ["mlp", "cnn", "transfer"]
    for assignment in pack.assignments:
        assert assignment.instructions_md.startswith("# Assignment")
        assert assignment.starter_path.is_file() and assignment.solution_path.is_file()
        assert {"dataset", "checks", "score"} <= set(assignment.spec)
        assert assignment.limits.memory_mb >= 2048
    assert pack.agenda[0].start == "09:00"
    assert {item.kind for item in pack.agenda} == {"theory", "hands-on"}
    assert load_pack(PACK / "manifest.json") == pack


def _edit_manifest(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        manifest = json.loads((folder / "manifest.json").read_text())
        change(manifest)
        (folder / "manifest.json").write_text(json.dumps(manifest))

    return apply


def _set_first(key: str, value: Any) -> Callable[[Path], None]:
    return _edit_manifest(lambda m: m["assignments"][0].__setitem__(key, value))


BROKEN: dict[str, tuple[Callable[[Path], None], str]] = {
    "no manifest": (
        lambda d: (d / "manifest.json").unlink(),
        "manifest.json is missing",
    ),
    "bad json": (
        lambda d: (d / "manifest.json").write_text("{"),
        "not valid JSON",
    ),
    "missing file": (
        lambda d: (d / "cnn" / "instructions.md").unlink(),
        "cnn/instructions.md is missing",
    ),
    "duplicate slug": (_set_first("slug", "cnn"), "slugs must be unique"),
    "bad slug": (_set_first("slug", "MLP!"), "slug 'MLP!'"),
    "bad queue": (_set_first("queue", "tpu"), "queue must be one of"),
    "bad policy": (_set_first("score_policy", "worst"), "score_policy"),
    "bad limits": (
        _set_first("limits", {"wall_seconds": 1, "cpu_seconds": 1}),
        "missing memory_mb",
    ),
    "negative limit": (
        _set_first("limits", {"wall_seconds": -1, "cpu_seconds": 1, "memory_mb": 1}),
        "limits.wall_seconds must be a positive integer",
    ),
    "bad time": (
        _edit_manifest(lambda m: m["agenda"][0].__setitem__("start", "9am")),
        "must be HH:MM",
    ),
    "bad agenda kind": (
        _edit_manifest(lambda m: m["agenda"][0].__setitem__("kind", "lunch")),
        "kind must be one of",
    ),
    "bad spec": (
        lambda d: (d / "mlp" / "spec.json").write_text(
            json.dumps({"dataset": {}, "checks": {}, "score": {"target": 3}})
        ),
        "mlp/spec.json: .*score.target",
    ),
    "spec without dataset": (
        lambda d: (d / "mlp" / "spec.json").write_text('{"checks": {}, "score": {}}'),
        "missing dataset",
    ),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_broken_pack_raises_pack_error(kind: str, tmp_path: Path) -> None:
    """Each malformation raises PackError naming the file and field."""
    folder = tmp_path / "pack"
    shutil.copytree(PACK, folder)
    breaker, needle = BROKEN[kind]
    breaker(folder)
    with pytest.raises(PackError, match=needle):
        load_pack(folder)
