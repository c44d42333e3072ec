"""Packs out and in: a workshop or one assignment as the folder assignments/dl101 is.

Export writes the pack format `assignments.pack` reads (manifest.json, notes,
per assignment its instructions, starter, reference solution and spec), as a
folder, a .zip or a .tar.gz whose files are plain text, so a pack can live in
git. Import reads an uploaded archive as hostile input (`pack_archive`), then
validates every field with a message that names it before anything is stored,
and creates a new workshop from it as a shipped pack would be loaded.
"""

import ast
import io
import json
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError

from assignments.sources import SOURCES
from workshops import folders
from workshops.models import Assignment, Enrollment, Workshop
from workshops.notes import notes_dir
from workshops.pack_archive import SLUG, archive_unpack
from workshops.services import (
    PACKS_DIR,
    enrollment_add,
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
FORMATS = ("zip", "tar.gz")
KNOWN_BUILDER = "assignments.transfer.build_base"
# Keys a site adds to a spec that a pack does not hold.
DERIVED_SPEC_KEYS = ("data_notice",)


LICENCE_FILES = ("LICENSES.md", "LICENSE", "LICENSE.md")


def pack_files_dir(workshop_id: int) -> Path:
    """Return where an imported pack's licence files are kept for export."""
    return notes_dir(workshop_id).parent / "pack"


class PackExportError(ValueError):
    """The workshop cannot be written as a pack; the message says why."""


# --- Export ----------------------------------------------------------------------


def _pack_slug(slug: str) -> str:
    cleaned = "".join(c if c.isalnum() else "-" for c in slug.lower()).strip("-")
    return (cleaned or "pack")[:50].rstrip("-") or "pack"


def assignment_solution(assignment: Assignment) -> str:
    """Return the reference solution: the one kept at load, else the shipped pack's."""
    candidates = [folders.assignment_reference_dir(assignment.pk) / "solution.py"]
    if assignment.workshop.pack:
        shipped = PACKS_DIR / assignment.workshop.pack / assignment.slug
        candidates.append(shipped / "solution.py")
    for path in candidates:
        if path.is_file():
            return path.read_text(encoding="utf-8")
    raise PackExportError(
        f"{assignment.slug}: no reference solution is kept for this assignment."
    )


def _spec(assignment: Assignment) -> tuple[dict, str]:
    """Return the spec to export and a note when the site's data was left out."""
    spec = {k: v for k, v in assignment.spec.items() if k not in DERIVED_SPEC_KEYS}
    kept = folders.assignment_reference_dir(assignment.pk) / "spec.json"
    original = json.loads(kept.read_text(encoding="utf-8")) if kept.is_file() else {}
    note = ""
    if "data_notice" in assignment.spec and original:
        # The site fell back to other data: the pack names what it asked for.
        asked = ("dataset", "checks", "class_names")
        spec = {**spec, **{k: original[k] for k in asked if k in original}}
    if spec.get("dataset", {}).get("source") == "npz":
        if not original:
            raise PackExportError(
                f"{assignment.slug}: its data was uploaded to this site and the "
                "pack's own dataset is not kept; a pack carries no uploaded data."
            )
        spec = {**spec, "dataset": original["dataset"], "checks": original["checks"]}
        if "class_names" in original:
            spec["class_names"] = original["class_names"]
        note = (
            f"- {assignment.slug}: the data set uploaded on the site is not carried; "
            "the pack names its original dataset. Upload the data again after "
            "importing.\n"
        )
    if spec.get("base_model", {}).get("source") == "upload":
        spec = {k: v for k, v in spec.items() if k != "base_model"}
        if "base_model" in original:
            spec["base_model"] = original["base_model"]
        note += (
            f"- {assignment.slug}: the pretrained base uploaded on the site is not "
            "carried; the site builds its own. Upload the base again after "
            "importing.\n"
        )
    return spec, note


def _assignment_entry(assignment: Assignment) -> dict:
    return {
        "slug": assignment.slug,
        "title": assignment.title,
        "kind": assignment.kind,
        "order": assignment.order,
        "queue": assignment.queue,
        "daily_limit": assignment.daily_limit,
        "score_policy": assignment.score_policy,
        "limits": {
            "wall_seconds": assignment.wall_seconds,
            "cpu_seconds": assignment.cpu_seconds,
            "memory_mb": assignment.memory_mb,
        },
    }


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def pack_write(
    *, workshop: Workshop, folder: Path, assignment: Assignment | None = None
) -> Path:
    """Write the workshop (or one of its assignments) as a pack folder in ``folder``.

    Return the pack folder, named after the pack's slug. A single assignment's
    pack has no agenda and no notes.
    """
    everything = workshop.assignments.order_by("order")
    chosen = [assignment] if assignment else list(everything)
    if not chosen:
        raise PackExportError("The workshop has no assignment to export.")
    slug = _pack_slug(assignment.slug if assignment else workshop.slug)
    root = folder / slug
    manifest: dict = {
        "slug": slug,
        "title": assignment.title if assignment else workshop.title,
        "description": "" if assignment else workshop.description,
        "agenda": [],
        "assignments": [],
    }
    notes: list[str] = []
    if assignment is None:
        for item in workshop.agenda or []:
            if not isinstance(item, dict):
                continue
            kept = {
                k: item[k]
                for k in ("start", "end", "title", "kind", "notes", "assignment")
                if item.get(k)
            }
            manifest["agenda"].append(kept)
            if kept.get("notes") and kept["notes"] not in notes:
                notes.append(kept["notes"])
    readme = ""
    for item in chosen:
        spec, note = _spec(item)
        readme += note
        manifest["assignments"].append(_assignment_entry(item))
        base = root / item.slug
        _write(base / "instructions.md", item.instructions_md)
        _write(base / "solution.py", assignment_solution(item))
        _write(base / "spec.json", json.dumps(spec, indent=2, sort_keys=True) + "\n")
        starter = folders.assignment_materials_dir(item.pk) / "starter.ipynb"
        if not starter.is_file():
            raise PackExportError(f"{item.slug}: its starter notebook is missing.")
        shutil.copyfile(starter, base / "starter.ipynb")
    for note in notes:
        source = notes_dir(workshop.pk) / f"{note}.md"
        if not source.is_file():
            raise PackExportError(f"The agenda names notes {note!r}; they are missing.")
        (root / "notes").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, root / "notes" / f"{note}.md")
    # Licences travel with the data they cover: the shipped pack's, or those an
    # imported pack brought.
    sources = [pack_files_dir(workshop.pk)]
    if workshop.pack:
        sources.append(PACKS_DIR / workshop.pack)
    for name in LICENCE_FILES:
        found = next((f / name for f in sources if (f / name).is_file()), None)
        if found is not None:
            shutil.copyfile(found, root / name)
    _write(root / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    if readme:
        _write(
            root / "README.md",
            f"# {manifest['title']}\n\nExported from Dojo.\n\n{readme}",
        )
    return root


def pack_archive_bytes(
    *, workshop: Workshop, assignment: Assignment | None = None, fmt: str = "zip"
) -> tuple[str, bytes]:
    """Return the pack as an archive: its file name and bytes (zip or tar.gz)."""
    if fmt not in FORMATS:
        raise PackExportError(f"format must be one of {', '.join(FORMATS)}.")
    with tempfile.TemporaryDirectory(prefix="dojo-pack-") as tmp:
        root = pack_write(workshop=workshop, folder=Path(tmp), assignment=assignment)
        files = sorted(p for p in root.rglob("*") if p.is_file())
        buffer = io.BytesIO()
        if fmt == "zip":
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for path in files:
                    info = zipfile.ZipInfo(
                        str(path.relative_to(tmp)), date_time=(2020, 1, 1, 0, 0, 0)
                    )
                    info.external_attr = (0o100644) << 16
                    info.compress_type = zipfile.ZIP_DEFLATED
                    archive.writestr(info, path.read_bytes())
        else:
            with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
                for path in files:
                    data = path.read_bytes()
                    info = tarfile.TarInfo(str(path.relative_to(tmp)))
                    info.size, info.mode, info.mtime = len(data), 0o644, 0
                    archive.addfile(info, io.BytesIO(data))
        return f"{root.name}.{fmt}", buffer.getvalue()


# --- Import ----------------------------------------------------------------------


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
