"""What the site hands a runner with a job, checked before it is used.

The site is trusted no further than it must be: a handout's sizes, data
references and archives are checked against the validated job spec and
bounded here, before any file is written or bound into a sandbox.
"""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

from dojo_runner.client import SiteError
from workers.jobspec import JobSpec

# Bounds on an unpacked data archive: members and bytes.
MAX_MEMBERS = 10_000
MAX_UNPACKED = 8 * 1024**3


def unpack(archive: Path, target: Path) -> None:
    """Unpack regular files only, never outside `target`, within bounds."""
    total = 0
    with tarfile.open(archive, "r:") as tar:
        members = tar.getmembers()
        if len(members) > MAX_MEMBERS:
            raise SiteError("the data archive has too many members")
        for member in members:
            parts = Path(member.name).parts
            if not member.isfile() or member.name.startswith("/") or ".." in parts:
                raise SiteError(f"the data archive holds {member.name!r}")
            total += member.size
            if total > MAX_UNPACKED:
                raise SiteError("the data archive unpacks too large")
            out = target / member.name
            out.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            with out.open("wb") as handle:
                shutil.copyfileobj(source, handle)
            out.chmod(0o644)


def checked_size(value: object) -> int:
    """Return a file size the site announced, refused unless a whole byte count."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SiteError(f"a file size is not one: {value!r}"[:200])
    return value


def data_refs(spec: JobSpec, refs: object) -> dict[str, dict]:
    """Return the handout's data by mount: exactly the folders the spec names.

    The spec was validated (its mounts never climb out); a handout's own
    mount, digest or size is the site's word too, and is checked as well.
    """
    mounts = {ref.mount for ref in spec.data}
    if not isinstance(refs, list) or len(refs) != len(mounts):
        raise SiteError("the handout's data are not the spec's")
    found: dict[str, dict] = {}
    for ref in refs:
        if not isinstance(ref, dict) or ref.get("mount") not in mounts:
            raise SiteError("the handout names data the spec does not")
        if not isinstance(ref.get("sha256"), str) or not isinstance(
            ref.get("url"), str
        ):
            raise SiteError("a data reference lacks its URL or sha256")
        checked_size(ref.get("size"))
        found[ref["mount"]] = ref
    if set(found) != mounts:
        raise SiteError("the handout's data are not the spec's")
    return found
