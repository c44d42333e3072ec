"""Packs in: a workshop made from an uploaded pack archive.

Import reads an uploaded archive as hostile input (`pack_archive`), then
validates every field with a message that names it before anything is stored,
and creates a new workshop from it as a shipped pack would be loaded (its data
built in the request, a bounded number of builds: DOJO_PACK_MAX_DATA_BUILDS).
"""

import ast
import json
import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError

from assignments.sources import SOURCES
from workshops.models import Assignment, Enrollment, Workshop
from workshops.pack_archive import SLUG, archive_unpack
from workshops.packs import LICENCE_FILES, pack_files_dir
from workshops.services import (
    enrollment_add,
    pack_data_build_keys,
    workshop_load_pack,
)
from workshops.shipped import assignment_reference_shipped

# Bounds an imported pack's fields are held to (the model's, or tighter).
MAX_ASSIGNMENTS = 20
MAX_AGENDA = 50
MAX_TITLE = 200
MAX_DESCRIPTION = 5000
LIMIT_BOUNDS = {
    "wall_seconds": 6 * 3600,
    "cpu_seconds": 12 * 3600,
    "memory_mb": 64 * 1024,
}
MAX_DAILY_LIMIT = 1000
MAX_ORDER = 1000
# Only sources this site can build itself: an uploaded set or base is not carried.
IMPORTABLE_SOURCES = tuple(source for source in SOURCES if source != "npz")
KNOWN_BUILDER = "assignments.transfer.build_base"


def _field_error(where: str, message: str) -> ValidationError:
    return ValidationError({"pack": f"{where}: {message}"})


def _check_manifest(folder: Path) -> None:
    """Hold the manifest's fields to the site's bounds, naming each bad one."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    where = "manifest.json"
    for key, most in (("title", MAX_TITLE), ("description", MAX_DESCRIPTION)):
        value = manifest.get(key, "")
        if not isinstance(value, str) or len(value) > most:
            raise _field_error(f"{where} {key}", f"must be text of at most {most}.")
    for key, most in (("assignments", MAX_ASSIGNMENTS), ("agenda", MAX_AGENDA)):
        value = manifest.get(key, [])
        if not isinstance(value, list) or len(value) > most:
            raise _field_error(f"{where} {key}", f"must be a list of at most {most}.")
    for i, item in enumerate(manifest.get("agenda", [])):
        if isinstance(item, dict) and len(str(item.get("title", ""))) > MAX_TITLE:
            raise _field_error(
                f"{where} agenda[{i}] title", f"must be at most {MAX_TITLE} long."
            )
    kinds = [k.value for k in Assignment.Kind]
    for i, item in enumerate(manifest.get("assignments", [])):
        at = f"{where} assignments[{i}]"
        if not isinstance(item, dict):
            raise _field_error(at, "must be an object.")
        if item.get("kind") not in kinds:
            raise _field_error(f"{at} kind", f"must be one of {', '.join(kinds)}.")
        title = item.get("title")
        if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE:
            raise _field_error(f"{at} title", f"must be text of 1 to {MAX_TITLE}.")
        for key, most in (("daily_limit", MAX_DAILY_LIMIT), ("order", MAX_ORDER)):
            value = item.get(key, 1)
            if isinstance(value, int) and not isinstance(value, bool) and value > most:
                raise _field_error(f"{at} {key}", f"must be at most {most}.")
        limits = item.get("limits")
        if isinstance(limits, dict):
            for key, most in LIMIT_BOUNDS.items():
                value = limits.get(key)
                if isinstance(value, int) and value > most:
                    raise _field_error(
                        f"{at} limits.{key}", f"must be at most {most:,}."
                    )


def _check_assignment_files(folder: Path, slug: str) -> None:
    base = folder / slug
    spec = json.loads((base / "spec.json").read_text(encoding="utf-8"))
    dataset = spec.get("dataset")
    source = dataset.get("source") if isinstance(dataset, dict) else None
    if source not in IMPORTABLE_SOURCES:
        raise _field_error(
            f"{slug}/spec.json dataset.source",
            f"{str(source)[:50]!r} cannot be imported; use one of "
            f"{', '.join(IMPORTABLE_SOURCES)} (upload your own data after import).",
        )
    base_model = spec.get("base_model", {})
    if not isinstance(base_model, dict) or base_model.get("source") == "upload":
        raise _field_error(
            f"{slug}/spec.json base_model",
            "an uploaded base is not carried in a pack; upload it after import.",
        )
    builder = base_model.get("builder", KNOWN_BUILDER)
    if builder != KNOWN_BUILDER:
        # Named for the reader only today; a pack never chooses code to run.
        raise _field_error(
            f"{slug}/spec.json base_model.builder",
            f"must be {KNOWN_BUILDER!r} (the site builds the base itself).",
        )
    notebook = json.loads((base / "starter.ipynb").read_text(encoding="utf-8"))
    cells = notebook.get("cells")
    if not isinstance(cells, list) or not isinstance(notebook.get("nbformat"), int):
        raise _field_error(
            f"{slug}/starter.ipynb", "is not a Jupyter notebook (cells, nbformat)."
        )
    source_text = (base / "solution.py").read_text(encoding="utf-8")
    try:
        # Parsed to report a syntax error, never compiled or run.
        ast.parse(source_text, filename=f"{slug}/solution.py")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        line = getattr(exc, "lineno", None)
        where = f"line {line}: " if line else ""
        kind = exc.__class__.__name__
        raise _field_error(
            f"{slug}/solution.py", f"{where}not valid Python ({kind})."
        ) from None


def pack_validate(*, folder: Path):
    """Return the pack at ``folder`` once every field is valid.

    Raise ``ValidationError`` (under "pack") naming the file and field.
    """
    from assignments.pack import PackError, load_pack

    _check_manifest(folder)
    try:
        pack = load_pack(folder)
    except PackError as exc:
        raise ValidationError({"pack": str(exc)}) from None
    for item in pack.assignments:
        _check_assignment_files(folder, item.slug)
    # The import builds the pack's data in its request: a bounded number of
    # builds, however the pack varies its data sets' options.
    builds = len(pack_data_build_keys(items=pack.assignments))
    most = settings.DOJO_PACK_MAX_DATA_BUILDS
    if builds > most:
        raise ValidationError(
            {
                "pack": f"manifest.json: the assignments need {builds} different "
                f"data sets and pretrained bases; a pack may use at most {most}. "
                "Share the dataset (source, seed, classes) between assignments."
            }
        )
    return pack


def pack_import(
    *,
    data: bytes,
    filename: str,
    slug: str,
    created_by: AbstractUser | None,
    title: str = "",
) -> Workshop:
    """Create a new workshop from an uploaded pack archive.

    Everything is checked before anything is stored: a refused pack leaves no
    workshop, assignment or file behind. The uploader becomes its instructor.
    """
    slug = (slug or "").strip()
    if not SLUG.fullmatch(slug):
        raise ValidationError(
            {"slug": "Use 1 to 50 lowercase letters, digits and dashes."}
        )
    if Workshop.objects.filter(slug=slug).exists():
        raise ValidationError(
            {"slug": f"A workshop with the address “{slug}” exists; choose another."}
        )
    if len(title) > MAX_TITLE:
        raise ValidationError({"title": f"Keep the title to {MAX_TITLE} characters."})
    with tempfile.TemporaryDirectory(prefix="dojo-pack-in-") as tmp:
        folder = archive_unpack(data=data, filename=filename, into=Path(tmp))
        pack_validate(folder=folder)
        workshop = workshop_load_pack(path=folder, slug=slug)
        kept = pack_files_dir(workshop.pk)
        for name in LICENCE_FILES:
            if (folder / name).is_file():
                kept.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(folder / name, kept / name)
    # Another site's reference has not been graded here: an assignment that is
    # not a pack this repository ships waits, unreleased, for Validate.
    for assignment in workshop.assignments.all():
        if not assignment_reference_shipped(assignment):
            assignment.released = False
            assignment.save(update_fields=["released"])
    if title:
        workshop.title = title
        workshop.save(update_fields=["title"])
    if created_by is not None:
        enrollment_add(
            workshop=workshop, user=created_by, role=Enrollment.Role.INSTRUCTOR
        )
    return workshop
