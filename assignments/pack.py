"""Read and validate a workshop pack: a manifest plus one folder per assignment."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,49}$")
TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
AGENDA_KINDS = ("theory", "hands-on")
QUEUES = ("cpu", "gpu")
SCORE_POLICIES = ("best", "last")
LIMIT_KEYS = ("wall_seconds", "cpu_seconds", "memory_mb")
ASSIGNMENT_FILES = ("instructions.md", "starter.ipynb", "solution.py", "spec.json")
# Figures a theory note may place with a line "[[figure:NAME]]"; the site computes
# them from the workshop's own data and models when the pack is loaded.
FIGURES = (
    "activations",
    "loss-curve",
    "learning-rates",
    "conv-filters",
    "feature-maps",
    "pca-features",
    # A text pack's (assignments.text_figures): counted from its training split.
    "class-balance",
    "definition-lengths",
)
FIGURE_LINE = re.compile(r"^\[\[figure:([^\]]*)\]\]\s*$", re.MULTILINE)


class PackError(ValueError):
    """The pack is malformed; the message names the file and the field."""


@dataclass(frozen=True)
class AgendaItem:
    """One slot of the workshop day."""

    start: str
    end: str
    title: str
    kind: str
    notes: str = ""
    assignment: str = ""


@dataclass(frozen=True)
class Note:
    """A theory block's page: Markdown with figure lines."""

    slug: str
    title: str
    markdown: str
    figures: tuple[str, ...]


@dataclass(frozen=True)
class Limits:
    """Resource limits for one training run."""

    wall_seconds: int
    cpu_seconds: int
    memory_mb: int


@dataclass(frozen=True)
class AssignmentDef:
    """One assignment as the pack defines it."""

    slug: str
    title: str
    kind: str
    order: int
    queue: str
    daily_limit: int
    score_policy: str
    limits: Limits
    instructions_md: str
    spec: dict[str, Any]
    starter_path: Path
    solution_path: Path


@dataclass(frozen=True)
class Pack:
    """A workshop pack: its agenda and assignments, in order."""

    slug: str
    title: str
    description: str
    agenda: tuple[AgendaItem, ...]
    assignments: tuple[AssignmentDef, ...]
    path: Path
    notes: tuple[Note, ...] = ()

    def assignment(self, slug: str) -> AssignmentDef:
        """Return the assignment named ``slug``."""
        for item in self.assignments:
            if item.slug == slug:
                return item
        raise KeyError(slug)


def load_pack(path: Path) -> Pack:
    """Read the pack at ``path`` (folder or manifest.json); raise PackError."""
    path = Path(path)
    folder = path.parent if path.name == "manifest.json" else path
    manifest = _read_json(folder / "manifest.json")
    where = "manifest.json"
    _require(manifest, ("slug", "title", "assignments"), where)
    _check_slug(manifest["slug"], where)
    agenda = tuple(
        _agenda_item(item, f"{where} agenda[{i}]")
        for i, item in enumerate(manifest.get("agenda", []))
    )
    raw = manifest["assignments"]
    if not isinstance(raw, list) or not raw:
        raise PackError(f"{where}: assignments must be a non-empty list.")
    names = _class_names(manifest.get("class_names", {}), where)
    assignments = tuple(
        _assignment(item, folder, f"{where} assignments[{i}]", names)
        for i, item in enumerate(raw)
    )
    for field in ("slug", "order"):
        values = [getattr(a, field) for a in assignments]
        if len(set(values)) != len(values):
            raise PackError(f"{where}: assignment {field}s must be unique ({values}).")
    notes = _notes(folder, agenda, {a.slug for a in assignments}, where)
    return Pack(
        slug=manifest["slug"],
        title=str(manifest["title"]),
        description=str(manifest.get("description", "")),
        agenda=agenda,
        assignments=tuple(sorted(assignments, key=lambda a: a.order)),
        path=folder,
        notes=notes,
    )


def _notes(
    folder: Path, agenda: tuple[AgendaItem, ...], slugs: set[str], where: str
) -> tuple[Note, ...]:
    """Read notes/<slug>.md for each agenda block that names notes."""
    notes = []
    for i, item in enumerate(agenda):
        if item.assignment and item.assignment not in slugs:
            raise PackError(
                f"{where} agenda[{i}]: assignment {item.assignment!r} is not one of "
                f"the pack's assignments ({', '.join(sorted(slugs))})."
            )
        if not item.notes or item.notes in {n.slug for n in notes}:
            continue
        _check_slug(item.notes, f"{where} agenda[{i}] notes")
        path = folder / "notes" / f"{item.notes}.md"
        if not path.is_file():
            raise PackError(
                f"{where} agenda[{i}]: block {item.title!r} names notes "
                f"{item.notes!r}, but notes/{item.notes}.md is missing."
            )
        text = path.read_text(encoding="utf-8")
        figures = tuple(FIGURE_LINE.findall(text))
        unknown = [name for name in figures if name not in FIGURES]
        if unknown:
            raise PackError(
                f"notes/{item.notes}.md: figure {unknown[0]!r} does not exist; the "
                f"figures are {', '.join(FIGURES)}."
            )
        title = next(
            (line[2:].strip() for line in text.splitlines() if line.startswith("# ")),
            item.title,
        )
        notes.append(Note(item.notes, title, text, figures))
    return tuple(notes)


def _read_json(path: Path) -> Any:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PackError(f"{path.name} is missing in {path.parent}.") from exc
    except (OSError, ValueError) as exc:
        raise PackError(f"{path} is not valid JSON: {exc}.") from exc
    if not isinstance(data, dict):
        raise PackError(f"{path} must hold a JSON object.")
    return data


def _require(data: dict[str, Any], keys: tuple[str, ...], where: str) -> None:
    missing = [key for key in keys if key not in data]
    if missing:
        raise PackError(f"{where}: missing {', '.join(missing)}.")


def _check_slug(slug: Any, where: str) -> None:
    if not isinstance(slug, str) or not SLUG.match(slug):
        raise PackError(
            f"{where}: slug {slug!r} must be lowercase letters, digits and dashes."
        )


def _agenda_item(item: dict[str, Any], where: str) -> AgendaItem:
    _require(item, ("start", "end", "title", "kind"), where)
    for key in ("start", "end"):
        if not isinstance(item[key], str) or not TIME.match(item[key]):
            raise PackError(f"{where}: {key} {item[key]!r} must be HH:MM.")
    if item["start"] >= item["end"]:
        raise PackError(f"{where}: start {item['start']} is not before end.")
    if item["kind"] not in AGENDA_KINDS:
        raise PackError(f"{where}: kind must be one of {', '.join(AGENDA_KINDS)}.")
    for key in ("notes", "assignment"):
        if not isinstance(item.get(key, ""), str):
            raise PackError(f"{where}: {key} must be a slug.")
    if item.get("notes") and item["kind"] != "theory":
        raise PackError(f"{where}: only a theory block has notes.")
    return AgendaItem(
        item["start"],
        item["end"],
        str(item["title"]),
        item["kind"],
        notes=item.get("notes", ""),
        assignment=item.get("assignment", ""),
    )


def _positive_int(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise PackError(f"{where} must be a positive integer (got {value!r}).")
    return value


def _class_names(raw: Any, where: str) -> dict[str, list[str]]:
    """Return the manifest's class names per dataset source."""
    if not isinstance(raw, dict) or not all(
        isinstance(names, list) and names and all(isinstance(n, str) for n in names)
        for names in raw.values()
    ):
        raise PackError(
            f"{where}: class_names must map a dataset source to a list of names."
        )
    return raw


def _with_class_names(
    spec: dict[str, Any], names: dict[str, list[str]], where: str
) -> dict[str, Any]:
    """Put the names of the assignment's own classes into its spec.

    A spec that lists its own ``class_names`` (an exported pack's does) keeps
    them: a list of names, one per class.
    """
    dataset = spec["dataset"]
    own = spec.get("class_names")
    if own is not None:
        expected = spec["checks"].get("num_classes")
        if not (
            isinstance(own, list)
            and own
            and all(isinstance(n, str) and 0 < len(n) <= 100 for n in own)
        ):
            raise PackError(f"{where}: class_names must be a list of short names.")
        if expected is not None and expected != len(own):
            raise PackError(
                f"{where}: {len(own)} class_names for num_classes {expected}."
            )
        return spec
    known = names.get(dataset.get("source", ""))
    if not known:
        return spec
    classes = dataset.get("classes") or list(range(len(known)))
    if any(not isinstance(c, int) or not 0 <= c < len(known) for c in classes):
        raise PackError(f"{where}: dataset.classes {classes} are not all named.")
    expected = spec["checks"].get("num_classes")
    if expected is not None and expected != len(classes):
        raise PackError(
            f"{where}: {len(classes)} class names for num_classes {expected}."
        )
    return {**spec, "class_names": [known[c] for c in classes]}


def _assignment(
    item: dict[str, Any], folder: Path, where: str, names: dict[str, list[str]]
) -> AssignmentDef:
    _require(item, ("slug", "title", "kind", "order", "limits"), where)
    slug = item["slug"]
    _check_slug(slug, where)
    queue = item.get("queue", "cpu")
    if queue not in QUEUES:
        raise PackError(f"{where}: queue must be one of {', '.join(QUEUES)}.")
    policy = item.get("score_policy", "best")
    if policy not in SCORE_POLICIES:
        raise PackError(
            f"{where}: score_policy must be one of {', '.join(SCORE_POLICIES)}."
        )
    limits = item["limits"]
    if not isinstance(limits, dict):
        raise PackError(f"{where}: limits must be an object.")
    _require(limits, LIMIT_KEYS, f"{where} limits")
    directory = folder / slug
    for name in ASSIGNMENT_FILES:
        if not (directory / name).is_file():
            raise PackError(f"{where}: {slug}/{name} is missing.")
    spec = _read_json(directory / "spec.json")
    _check_spec(spec, f"{slug}/spec.json")
    spec = _with_class_names(spec, names, f"{slug}/spec.json")
    return AssignmentDef(
        slug=slug,
        title=str(item["title"]),
        kind=str(item["kind"]),
        order=_positive_int(item["order"], f"{where} order"),
        queue=queue,
        daily_limit=_positive_int(item.get("daily_limit", 20), f"{where} daily_limit"),
        score_policy=policy,
        limits=Limits(
            **{k: _positive_int(limits[k], f"{where} limits.{k}") for k in LIMIT_KEYS}
        ),
        instructions_md=(directory / "instructions.md").read_text(encoding="utf-8"),
        spec=spec,
        starter_path=directory / "starter.ipynb",
        solution_path=directory / "solution.py",
    )


def _check_spec(spec: dict[str, Any], where: str) -> None:
    from grader import GraderError, validate_spec

    _require(spec, ("dataset", "checks", "score"), where)
    if not isinstance(spec["dataset"], dict):
        raise PackError(f"{where}: dataset must be an object.")
    try:
        validate_spec(spec)
    except GraderError as exc:
        raise PackError(f"{where}: {exc}") from exc
