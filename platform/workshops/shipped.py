"""Whether an assignment is still what a pack of this repository shipped.

The packs under ``assignments/`` carry references that the project's own
tests and benchmarks train and grade (tests/e2e, bench/references.py), so a
workshop made from one (``dojo_setup``, ``load_workshop``) is released
without a validation run on the site. Trust lasts while the assignment is
that pack's: the same reference, the same spec (checks, scoring, data), no
data or base uploaded on the site, and limits no tighter than the manifest's.
Any edit in the page, an upload, or a pack imported with other content makes
it an authored assignment, which must be validated before release
(dashboard.validation).
"""

import json
from pathlib import Path

from workshops import folders
from workshops.models import Assignment
from workshops.services import PACKS_DIR

LIMITS = ("wall_seconds", "cpu_seconds", "memory_mb")


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _graded_spec(path: Path) -> object:
    """Return a spec file without its class names (labels the manifest adds)."""
    spec = _read_json(path)
    if isinstance(spec, dict):
        spec.pop("class_names", None)
    return spec


def _shipped_limits(pack: Path, slug: str) -> dict | None:
    manifest = _read_json(pack / "manifest.json")
    if not isinstance(manifest, dict):
        return None
    for entry in manifest.get("assignments") or []:
        if isinstance(entry, dict) and entry.get("slug") == slug:
            limits = entry.get("limits") or {}
            return limits if isinstance(limits, dict) else None
    return None


def assignment_reference_shipped(assignment: Assignment) -> bool:
    """Return whether the assignment is unchanged from a pack this repository ships."""
    name = assignment.workshop.pack
    if not name or "/" in name or name.startswith("."):
        return False
    pack = PACKS_DIR / name
    shipped = pack / assignment.slug
    if not (shipped / "solution.py").is_file() or not (shipped / "spec.json").is_file():
        return False
    kept = folders.assignment_reference_dir(assignment.pk)
    solution = kept / "solution.py"
    if (
        solution.is_file()
        and solution.read_bytes() != (shipped / "solution.py").read_bytes()
    ):
        return False
    kept_spec = kept / "spec.json"
    if kept_spec.is_file() and _graded_spec(kept_spec) != _graded_spec(
        shipped / "spec.json"
    ):
        return False
    spec = assignment.spec or {}
    if spec.get("dataset", {}).get("source") == "npz":
        return False
    if spec.get("base_model", {}).get("source") == "upload":
        return False
    limits = _shipped_limits(pack, assignment.slug)
    if limits is None:
        return False
    return all(
        not isinstance(limits.get(key), int) or getattr(assignment, key) >= limits[key]
        for key in LIMITS
    )
