"""Packs out and in: a workshop or one assignment as the folder assignments/dl101 is.

Export writes the pack format `assignments.pack` reads (manifest.json, notes,
per assignment its instructions, starter, reference solution and spec), as a
folder, a .zip or a .tar.gz whose files are plain text, so a pack can live in
git. Import is `pack_import`.
"""

import io
import json
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path

from workshops import folders
from workshops.models import Assignment, Workshop
from workshops.notes import notes_dir
from workshops.services import (
    PACKS_DIR,
)

FORMATS = ("zip", "tar.gz")
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
