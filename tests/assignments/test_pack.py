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
    """The pack has four ordered assignments with instructions and specs."""
    pack = load_pack(PACK)
    assert pack.slug == "dl101"
    assert [a.slug for a in pack.assignments] == ["hello", "mlp", "cnn", "transfer"]
    assert [a.kind for a in pack.assignments] == ["mlp", "mlp", "cnn", "transfer"]
    for assignment in pack.assignments:
        assert assignment.instructions_md.startswith("# Assignment")
        assert assignment.starter_path.is_file() and assignment.solution_path.is_file()
        assert {"dataset", "checks", "score"} <= set(assignment.spec)
        assert assignment.limits.memory_mb >= 2048
    assert pack.agenda[0].start == "09:00"
    assert {item.kind for item in pack.agenda} == {"theory", "hands-on"}
    assert load_pack(PACK / "manifest.json") == pack


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def test_dl101_is_a_half_day_on_fashion_mnist_with_named_classes() -> None:
    """About four hours, assignment 0 first, then three hands-on blocks of 30+ min;
    every theory block has notes; every spec names its classes."""
    pack = load_pack(PACK)
    span = _minutes(pack.agenda[-1].end) - _minutes(pack.agenda[0].start)
    assert 210 <= span <= 255
    hands_on = [i for i in pack.agenda if i.kind == "hands-on"]
    assert [i.assignment for i in hands_on] == ["hello", "mlp", "cnn", "transfer"]
    assert pack.agenda[0].assignment == "hello"
    assert _minutes(hands_on[0].end) - _minutes(hands_on[0].start) == 15
    # Each block leaves time for several submissions at the measured training
    # time (instructions: "What to expect") plus writing the code.
    assert all(_minutes(i.end) - _minutes(i.start) >= 30 for i in hands_on[1:])
    theory = [i for i in pack.agenda if i.kind == "theory"]
    assert all(i.notes for i in theory)
    assert {n.slug for n in pack.notes} == {i.notes for i in theory}
    for assignment in pack.assignments:
        assert assignment.spec["dataset"]["source"] == "fashion-mnist"
        assert assignment.spec["checks"]["input_shape"] == [28, 28, 1]
        assert "What to expect" in assignment.instructions_md
    names = {a.slug: a.spec["class_names"] for a in pack.assignments}
    assert names["mlp"][0] == "T-shirt/top" and len(names["cnn"]) == 10
    assert names["transfer"] == ["Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def test_class_names_must_cover_the_classes(tmp_path: Path) -> None:
    """A manifest whose names do not fit num_classes is refused, naming the file."""
    folder = tmp_path / "pack"
    shutil.copytree(PACK, folder)
    _edit_manifest(
        lambda m: m["class_names"].update({"fashion-mnist": ["a", "b", "c"]})
    )(folder)
    with pytest.raises(PackError, match="hello/spec.json"):
        load_pack(folder)


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


def _pack_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "pack"
    shutil.copytree(PACK, folder)
    return folder


def test_notes_with_an_unknown_figure_are_refused(tmp_path: Path) -> None:
    """A note placing a figure the site cannot compute names it and the known ones."""
    folder = _pack_copy(tmp_path)
    note = folder / "notes" / "neurons.md"
    note.write_text(note.read_text() + "\n[[figure:weights-3d]]\n")
    with pytest.raises(PackError, match="figure 'weights-3d' does not exist") as exc:
        load_pack(folder)
    assert "notes/neurons.md" in str(exc.value) and "activations" in str(exc.value)


def test_a_block_naming_missing_notes_is_refused(tmp_path: Path) -> None:
    """A theory block whose notes file is missing is refused with the file's name."""
    folder = _pack_copy(tmp_path)
    (folder / "notes" / "transfer.md").unlink()
    with pytest.raises(PackError, match="notes/transfer.md is missing"):
        load_pack(folder)


def test_a_block_naming_an_unknown_assignment_is_refused(tmp_path: Path) -> None:
    """An agenda block may only link an assignment of the pack."""
    folder = _pack_copy(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["agenda"][0]["assignment"] = "rnn"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(PackError, match="assignment 'rnn' is not one of"):
        load_pack(folder)
