"""Write an assignment in the page: its text, code, checks, scoring and limits.

An instructor of the workshop fills one form (``AssignmentAuthorForm``); the
form checks each field with a message naming it, and ``assignment_author``
assembles the spec, has the grader validate it, and saves the assignment, its
starter notebook and its reference solution. Editing a released assignment (or
one with submissions) makes a new version: ``spec_version`` goes up, the old
content is kept as an ``AssignmentVersion`` with what changed, and grades keep
the version they were made under (Grade.spec_version).
"""

import ast
import json
from dataclasses import dataclass
from typing import Any

import nbformat
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import transaction

from assignments.sources import SOURCES as ALL_SOURCES
from web.markdown import render_markdown
from workshops import folders
from workshops.folders import sha256_json
from workshops.models import Assignment, AssignmentVersion, Workshop
from workshops.packs import assignment_solution
from workshops.services import (
    assignment_data_prepare,
    assignment_release_refusal,
    workshop_refuse_if_archived,
)

MAX_INSTRUCTIONS = 20_000
MAX_CODE = 100_000
MAX_CELLS = 300
# Sources the site builds itself (an upload goes through the data page).
SOURCES = tuple(s for s in ALL_SOURCES if s != "npz")
# The dataset keys the form writes; others (a pretrained set, a few-shot slice,
# the split's seed) are kept while the source stays the same.
DATASET_FIELDS = (
    "source",
    "classes",
    "categories",
    "sequence_length",
    "vocabulary_size",
)


def instructions_preview(text: str) -> str:
    """Return the instructions rendered as the assignment page shows them.

    Bounded: text past MAX_INSTRUCTIONS is refused (with the field named), so
    one author's text never costs the site more than a page's rendering.
    """
    if len(text) > MAX_INSTRUCTIONS:
        raise ValidationError(
            {
                "instructions_md": f"The instructions are {len(text):,} characters; "
                f"keep them to {MAX_INSTRUCTIONS:,}."
            }
        )
    return str(render_markdown(text))


def code_check(text: str, *, field: str, what: str) -> str:
    """Return code that parses as Python (never run), or refuse naming ``field``."""
    if len(text) > MAX_CODE:
        raise ValidationError(
            {field: f"The {what} is {len(text):,} characters; at most {MAX_CODE:,}."}
        )
    if not text.strip():
        raise ValidationError({field: f"Write the {what}: it is empty."})
    try:
        ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        line = getattr(exc, "lineno", None)
        where = f" on line {line}" if line else ""
        raise ValidationError(
            {field: f"The {what} is not valid Python{where}: {exc.__class__.__name__}."}
        ) from None
    return text


def percent_to_notebook(text: str) -> str:
    """Return a percent-format script (``# %%`` cells) as a notebook's JSON."""
    cells: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# %%"):
            kind = "markdown" if "[markdown]" in stripped else "code"
            cells.append((kind, []))
            continue
        if not cells:
            cells.append(("code", []))
        cells[-1][1].append(line)
    if len(cells) > MAX_CELLS:
        raise ValidationError(
            {"starter": f"The starter has {len(cells)} cells; at most {MAX_CELLS}."}
        )
    notebook = nbformat.v4.new_notebook()
    for kind, lines in cells:
        if kind == "markdown":
            body = "\n".join(
                line.removeprefix("# ").removeprefix("#") for line in lines
            )
            notebook.cells.append(nbformat.v4.new_markdown_cell(body.strip("\n")))
        else:
            notebook.cells.append(
                nbformat.v4.new_code_cell("\n".join(lines).strip("\n"))
            )
    notebook.metadata["kernelspec"] = {
        "display_name": "Python 3",
        "language": "python",
        "name": "python3",
    }
    return nbformat.writes(notebook)


@dataclass(frozen=True)
class Authored:
    """What the form gathered, every field already checked on its own."""

    title: str
    kind: str
    instructions_md: str
    starter: str
    solution: str
    dataset: dict[str, Any]
    checks: dict[str, Any]
    score: dict[str, Any]
    limits: dict[str, int]
    daily_limit: int
    released: bool
    deadline: Any = None


def spec_build(*, authored: Authored, current: dict | None = None) -> dict:
    """Return the spec the grader will read; refuse what it would not accept.

    Keys the form does not edit (a base model, class names, contribution
    checks) are kept from the current spec.
    """
    from grader import GraderError, validate_spec

    spec = dict(current or {})
    spec.pop("data_notice", None)
    dataset = dict(authored.dataset)
    before = (current or {}).get("dataset", {})
    if before.get("source") == dataset["source"]:
        kept = {k: v for k, v in before.items() if k not in DATASET_FIELDS}
        dataset = {**dataset, **kept}
    spec.update(
        kind=authored.kind,
        title=authored.title,
        dataset=dataset,
        checks={**(current or {}).get("checks", {}), **authored.checks},
        score={**(current or {}).get("score", {}), **authored.score},
    )
    if "max_params" not in authored.checks:
        spec["checks"].pop("max_params", None)
    names = spec.get("class_names")
    if isinstance(names, list) and len(names) != authored.checks["num_classes"]:
        spec.pop("class_names")
    try:
        validate_spec(spec)
    except GraderError as exc:
        message = str(exc)
        field = next(
            (
                name
                for key, name in (
                    ("required", "required_layers"),
                    ("forbidden", "forbidden_layers"),
                    ("max_params", "max_params"),
                    ("target", "score_target"),
                    ("floor", "score_floor"),
                    ("points", "points"),
                    ("cap", "cap_on_failed_check"),
                    ("input_shape", "input_shape"),
                    ("num_classes", "num_classes"),
                )
                if key in message
            ),
            "checks",
        )
        raise ValidationError({field: message}) from None
    return spec


def _changes(old: Assignment, new: dict) -> list[str]:
    """Describe what an edit changed, in words a participant can read."""
    said = []
    if old.title != new["title"]:
        said.append(f"Title: “{old.title}” → “{new['title']}”.")
    if old.instructions_md != new["instructions_md"]:
        said.append("The instructions were rewritten.")
    before, after = old.spec.get("checks", {}), new["spec"].get("checks", {})
    labels = {
        "required_layers": "Required layers",
        "forbidden_layers": "Forbidden layers",
        "max_params": "Parameter limit",
        "input_shape": "Input shape",
        "num_classes": "Number of classes",
    }
    for key, label in labels.items():
        if before.get(key) != after.get(key):
            was, now = json.dumps(before.get(key)), json.dumps(after.get(key))
            said.append(f"{label}: {was} → {now}.")
    if old.spec.get("score") != new["spec"].get("score"):
        said.append("The scoring changed.")
    if old.spec.get("dataset") != new["spec"].get("dataset"):
        said.append("The data changed.")
    for key in ("wall_seconds", "cpu_seconds", "memory_mb", "daily_limit"):
        if getattr(old, key) != new[key]:
            said.append(f"{key.replace('_', ' ')}: {getattr(old, key)} → {new[key]}.")
    if new.get("starter_changed"):
        said.append("The starter notebook changed.")
    return said


UNVALIDATED_RELEASE = (
    "Save the assignment unreleased first: a new or changed reference, spec or "
    "limit is released only once Validate has trained and graded it."
)


def _graded_content(assignment: Assignment, solution: str | None = None) -> str:
    """Return a digest of what grading the reference depends on."""
    if solution is None:
        try:
            solution = assignment_solution(assignment)
        except ValueError:
            solution = ""
    return sha256_json(
        [
            solution,
            assignment.spec,
            assignment.wall_seconds,
            assignment.cpu_seconds,
            assignment.memory_mb,
        ]
    )


def assignment_author(
    *,
    workshop: Workshop,
    authored: Authored,
    author: AbstractUser,
    assignment: Assignment | None = None,
    slug: str = "",
) -> tuple[Assignment, list[str]]:
    """Create or edit an assignment from the page; return it and what changed.

    A new assignment starts at version 1. An edit of a released assignment, or
    of one with submissions, that changes anything is a new version: the
    content before it is kept, and grades stay under their own version.
    """
    workshop_refuse_if_archived(workshop)
    instructions_preview(authored.instructions_md)
    code_check(authored.starter, field="starter", what="starter")
    code_check(authored.solution, field="solution", what="reference solution")
    starter_json = percent_to_notebook(authored.starter)
    if assignment is None:
        if not slug:
            raise ValidationError({"slug": "Give the assignment an address."})
        if Assignment.objects.filter(workshop=workshop, slug=slug).exists():
            raise ValidationError(
                {"slug": f"This workshop already has an assignment “{slug}”."}
            )
    spec = spec_build(
        authored=authored, current=assignment.spec if assignment else None
    )
    materials = folders.assignment_materials_dir
    reference = folders.assignment_reference_dir
    new = {
        "title": authored.title,
        "instructions_md": authored.instructions_md,
        "spec": spec,
        "daily_limit": authored.daily_limit,
        **authored.limits,
    }
    changes: list[str] = []
    with transaction.atomic():
        graded_before = None
        if assignment is None:
            if authored.released:
                raise ValidationError({"released": UNVALIDATED_RELEASE})
            order = (
                max(workshop.assignments.values_list("order", flat=True), default=0) + 1
            )
            assignment = Assignment(
                workshop=workshop, slug=slug, kind=authored.kind, order=order
            )
            data_changed = True
        else:
            assignment = Assignment.objects.select_for_update().get(pk=assignment.pk)
            graded_before = _graded_content(assignment)
            old_starter = materials(assignment.pk) / "starter.ipynb"
            new["starter_changed"] = not old_starter.is_file() or _cells(
                old_starter.read_text(encoding="utf-8")
            ) != _cells(starter_json)
            changes = _changes(assignment, new)
            data_changed = assignment.spec.get("dataset") != spec["dataset"]
            # A reference run (Validate) is no participant's: an unreleased
            # assignment it graded is edited in place, and the edit makes that
            # validation stale (dashboard.validation).
            versioned = (
                assignment.released
                or assignment.submissions.filter(reference=False).exists()
            )
            if changes and versioned:
                AssignmentVersion.objects.create(
                    assignment=assignment,
                    number=assignment.spec_version,
                    title=assignment.title,
                    instructions_md=assignment.instructions_md,
                    spec=assignment.spec,
                    changes="\n".join(changes),
                    author=author,
                )
                assignment.spec_version += 1
        assignment.title = authored.title
        assignment.kind = authored.kind
        assignment.instructions_md = authored.instructions_md
        assignment.spec = spec
        assignment.spec_sha256 = sha256_json(spec)
        assignment.daily_limit = authored.daily_limit
        assignment.wall_seconds = authored.limits["wall_seconds"]
        assignment.cpu_seconds = authored.limits["cpu_seconds"]
        assignment.memory_mb = authored.limits["memory_mb"]
        if authored.released and not assignment.released and assignment.pk:
            # What the release guards validated is the stored reference: new
            # content released in the same save would skip its validation.
            if graded_before != _graded_content(assignment, authored.solution):
                raise ValidationError({"released": UNVALIDATED_RELEASE})
            if reason := assignment_release_refusal(assignment=assignment):
                raise ValidationError({"released": reason})
        assignment.released = authored.released
        assignment.deadline = authored.deadline
        try:
            assignment.full_clean()
        except ValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        assignment.save()
        materials(assignment.pk).mkdir(parents=True, exist_ok=True)
        (materials(assignment.pk) / "starter.ipynb").write_text(
            starter_json, encoding="utf-8"
        )
        reference(assignment.pk).mkdir(parents=True, exist_ok=True)
        (reference(assignment.pk) / "solution.py").write_text(
            authored.solution, encoding="utf-8"
        )
        (reference(assignment.pk) / "spec.json").write_text(
            json.dumps(spec, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
    if data_changed:
        assignment_data_prepare(assignment=assignment)
    return assignment, changes


def _cells(notebook_json: str) -> list:
    try:
        cells = json.loads(notebook_json).get("cells", [])
    except (ValueError, AttributeError):
        return []
    return [
        (c.get("cell_type"), "".join(c.get("source", "")))
        for c in cells
        if isinstance(c, dict)
    ]


def authored_from_assignment(assignment: Assignment) -> dict:
    """Return the form's initial values for an existing assignment."""
    spec = assignment.spec
    checks, score = spec.get("checks", {}), spec.get("score", {})
    dataset = spec.get("dataset", {})
    starter_path = folders.assignment_materials_dir(assignment.pk) / "starter.ipynb"
    starter = ""
    if starter_path.is_file():
        starter = notebook_to_percent(starter_path.read_text(encoding="utf-8"))
    try:
        solution = assignment_solution(assignment)
    except ValueError:
        solution = ""
    required = checks.get("required_layers", {})
    return {
        "title": assignment.title,
        "kind": assignment.kind,
        "instructions_md": assignment.instructions_md,
        "starter": starter,
        "solution": solution,
        "dataset_source": dataset.get("source", "fashion-mnist"),
        "classes": ", ".join(str(c) for c in dataset.get("classes", []) or []),
        "input_shape": ", ".join(str(n) for n in checks.get("input_shape", [])),
        "vocabulary_size": dataset.get("vocabulary_size"),
        "num_classes": checks.get("num_classes"),
        "required_layers": ", ".join(f"{k}:{v}" for k, v in required.items()),
        "forbidden_layers": ", ".join(checks.get("forbidden_layers", [])),
        "max_params": checks.get("max_params"),
        "score_target": score.get("target", 0.9),
        "score_floor": str(score.get("floor", "majority")),
        "points": score.get("points", 100),
        "cap_on_failed_check": score.get("cap_on_failed_check", 50),
        "wall_seconds": assignment.wall_seconds,
        "cpu_seconds": assignment.cpu_seconds,
        "memory_mb": assignment.memory_mb,
        "daily_limit": assignment.daily_limit,
        "released": assignment.released,
        "deadline": assignment.deadline,
    }


def notebook_to_percent(notebook_json: str) -> str:
    """Return a notebook's cells as a percent-format script for the form."""
    parts = []
    for kind, source in _cells(notebook_json):
        if kind == "markdown":
            body = "\n".join(
                f"# {line}" if line else "#" for line in source.split("\n")
            )
            parts.append(f"# %% [markdown]\n{body}")
        elif kind == "code":
            parts.append(f"# %%\n{source}")
    return "\n\n".join(parts) + "\n"
