"""Read a pack archive someone uploaded: hostile input, bounded and never run.

A pack is a folder (``manifest.json``, ``notes/<slug>.md``, and per assignment
``<slug>/instructions.md``, ``starter.ipynb``, ``solution.py``,
``spec.json``), shipped as a ``.zip`` or ``.tar.gz`` holding that folder or its
contents. Reading one checks, before anything is written outside a fresh
temporary folder: the archive's size, its member count, the bytes it unpacks
to (counted while reading, never from the headers), each path (relative, no
``..``, no backslash, names of letters, digits, dots, dashes and underscores,
at most two levels under the pack), each member's type (regular files and
folders only: no links, devices or pipes), each file's place in the layout and
its own size bound, and that each text is UTF-8 and each JSON file parses.
Nothing in the archive is executed, imported or unpickled.
"""

import io
import json
import re
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,49}")
ASSIGNMENT_FILES = {
    "instructions.md": 200_000,
    "starter.ipynb": 2_000_000,
    "solution.py": 256_000,
    "spec.json": 64_000,
}
TOP_FILES = {
    "manifest.json": 64_000,
    "README.md": 200_000,
    # Data licences a pack must keep with it (dl4nlp's WordNet and GloVe).
    "LICENSES.md": 200_000,
    "LICENSE": 200_000,
    "LICENSE.md": 200_000,
}
NOTE_BYTES = 200_000
CHUNK = 64 * 1024


def max_archive_bytes() -> int:
    """Return the largest pack archive accepted (DOJO_PACK_MAX_BYTES)."""
    return settings.DOJO_PACK_MAX_BYTES


def _refuse(message: str) -> ValidationError:
    return ValidationError({"pack": message})


@dataclass(frozen=True)
class _Member:
    name: str
    is_dir: bool
    size: int
    open: object  # () -> a binary file object


def _zip_members(data: io.BytesIO) -> Iterator[_Member]:
    try:
        archive = zipfile.ZipFile(data)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise _refuse(f"The file is not a readable .zip archive ({exc}).") from None
    for info in archive.infolist():
        mode = info.external_attr >> 16
        kind = stat.S_IFMT(mode)
        if info.flag_bits & 0x1:
            raise _refuse(f"{info.filename[:200]!r} is encrypted; packs are not.")
        if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
            what = "a link" if kind == stat.S_IFLNK else "not a regular file"
            raise _refuse(f"{info.filename[:200]!r} is {what}; a pack holds files.")
        yield _Member(
            name=info.filename,
            is_dir=info.is_dir(),
            size=info.file_size,
            open=lambda info=info: archive.open(info),
        )


def _tar_members(data: io.BytesIO) -> Iterator[_Member]:
    try:
        archive = tarfile.open(fileobj=data, mode="r:gz")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise _refuse(f"The file is not a readable .tar.gz archive ({exc}).") from None
    while True:
        try:
            info = archive.next()
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise _refuse(f"The .tar.gz archive is damaged ({exc}).") from None
        if info is None:
            return
        if not (info.isfile() or info.isdir()):
            what = "a link" if info.issym() or info.islnk() else "a device or pipe"
            raise _refuse(f"{info.name[:200]!r} is {what}; a pack holds files.")
        yield _Member(
            name=info.name,
            is_dir=info.isdir(),
            size=info.size,
            open=lambda info=info: archive.extractfile(info),
        )


def _parts(name: str) -> list[str]:
    """Return a member's path parts, refusing any path that could leave the pack."""
    shown = repr(name[:200])
    if "\\" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise _refuse(f"{shown} is an absolute or Windows path; use relative paths.")
    parts = [p for p in name.rstrip("/").split("/")]
    if any(p in ("", ".", "..") for p in parts):
        raise _refuse(f"{shown} has an empty, '.' or '..' part; paths stay inside.")
    bad = next((p for p in parts if not NAME.fullmatch(p)), None)
    if bad is not None:
        raise _refuse(
            f"{shown}: the name {bad[:100]!r} may hold only letters, digits, dots, "
            "dashes and underscores (at most 100)."
        )
    return parts


def _bound_for(path: list[str]) -> int | None:
    """Return the most bytes a file at ``path`` (inside the pack) may hold."""
    if len(path) == 1:
        return TOP_FILES.get(path[0])
    if len(path) == 2 and path[0] == "notes":
        stem = path[1].removesuffix(".md")
        return NOTE_BYTES if path[1].endswith(".md") and SLUG.fullmatch(stem) else None
    if len(path) == 2 and SLUG.fullmatch(path[0]):
        return ASSIGNMENT_FILES.get(path[1])
    return None


def _read(member: _Member, bound: int, budget: int, where: str) -> bytes:
    """Read a member, counting real bytes against its bound and the budget."""
    handle = member.open()
    if handle is None:
        raise _refuse(f"{where} cannot be read.")
    chunks, total = [], 0
    with handle:
        while chunk := handle.read(CHUNK):
            total += len(chunk)
            if total > bound:
                raise _refuse(f"{where} is larger than {bound:,} bytes.")
            if total > budget:
                raise _refuse(
                    "The pack unpacks to more than "
                    f"{settings.DOJO_PACK_MAX_UNPACKED_BYTES:,} bytes."
                )
            chunks.append(chunk)
    return b"".join(chunks)


def _check_text(path: str, data: bytes) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _refuse(f"{path} is not UTF-8 text (byte {exc.start}).") from None
    if path.endswith((".json", ".ipynb")):
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as exc:
            detail = "nested too deeply" if isinstance(exc, RecursionError) else exc
            raise _refuse(f"{path} is not valid JSON ({detail}).") from None
        if not isinstance(value, dict):
            raise _refuse(f"{path} must hold a JSON object.")


def archive_unpack(*, data: bytes, filename: str, into: Path) -> Path:
    """Check an uploaded pack archive and write its files under ``into``.

    Return the pack folder (the one holding manifest.json). Raise
    ``ValidationError`` (under "pack") with the reason for anything refused;
    ``into`` then may hold some checked files, and the caller removes it.
    """
    if len(data) > max_archive_bytes():
        raise _refuse(
            f"The archive is {len(data):,} bytes; packs are at most "
            f"{max_archive_bytes():,}."
        )
    lower = filename.lower()
    if lower.endswith(".zip"):
        members = _zip_members(io.BytesIO(data))
    elif lower.endswith((".tar.gz", ".tgz")):
        members = _tar_members(io.BytesIO(data))
    else:
        raise _refuse("Upload the pack as a .zip or .tar.gz archive.")
    most = settings.DOJO_PACK_MAX_MEMBERS
    budget = settings.DOJO_PACK_MAX_UNPACKED_BYTES
    files: dict[tuple[str, ...], _Member] = {}
    seen: set[tuple[str, ...]] = set()
    for count, member in enumerate(members, start=1):
        if count > most:
            raise _refuse(f"The archive has more than {most} members.")
        parts = tuple(_parts(member.name))
        if parts in seen:
            raise _refuse(f"{member.name[:200]!r} appears twice in the archive.")
        seen.add(parts)
        if len(parts) > 3:
            raise _refuse(f"{member.name[:200]!r} is nested too deeply for a pack.")
        if not member.is_dir:
            files[parts] = member
    roots = {parts[0] for parts in files}
    top: tuple[str, ...] = ()
    if ("manifest.json",) not in files and len(roots) == 1:
        top = (next(iter(roots)),)
    if top + ("manifest.json",) not in files:
        raise _refuse(
            "manifest.json is missing: the archive holds the pack folder, or its "
            "contents, with manifest.json at the top."
        )
    for parts, member in sorted(files.items()):
        inside = list(parts[len(top) :])
        where = "/".join(inside)
        bound = _bound_for(inside) if parts[: len(top)] == top else None
        if bound is None:
            raise _refuse(
                f"{'/'.join(parts)[:200]!r} is not part of a pack: it holds "
                "manifest.json, README.md, LICENSES.md, notes/<slug>.md and per "
                "assignment "
                "<slug>/instructions.md, starter.ipynb, solution.py, spec.json."
            )
        if member.size > bound:
            raise _refuse(f"{where} is larger than {bound:,} bytes.")
        content = _read(member, bound, budget, where)
        budget -= len(content)
        _check_text(where, content)
        target = into.joinpath(*inside)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return into
