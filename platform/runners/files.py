"""What a runner downloads (a job's script and training data) and uploads.

The training split travels as one tar archive per folder listing: built once,
deterministically (sorted members, no owners, no times), named by the
listing's digest and answered by its content's sha256, so a host caches it
once per assignment. The hidden split has no URL at all.

An upload is stored only whole: it is written beside its place, counted and
hashed while it streams, and moved into place only when it has exactly the
signed length and sha256. A cut or altered upload leaves nothing.
"""

import hashlib
import io
import os
import tarfile
import uuid
from pathlib import Path

from django.conf import settings

from runners.models import HostJob
from runners.refusals import RunnerRefused
from workers.jobspec import folder_digest
from workshops import folders

CHUNK = 1024 * 1024


def archive_for(folder: Path) -> tuple[Path, str]:
    """Return a folder's archive and its content sha256, building it once."""
    root = Path(settings.DOJO_DATA_CACHE_ROOT) / "runner-archives"
    root.mkdir(parents=True, exist_ok=True)
    listing = folder_digest(folder)
    archive = root / f"{listing}.tar"
    digest_file = root / f"{listing}.sha256"
    if archive.is_file() and digest_file.is_file():
        return archive, digest_file.read_text().strip()
    part = root / f".{listing}.{uuid.uuid4().hex}.part"
    with tarfile.open(part, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
            info = tarfile.TarInfo(str(path.relative_to(folder)))
            info.size = path.stat().st_size
            info.mode = 0o644
            with path.open("rb") as handle:
                tar.addfile(info, handle)
    digest = file_sha256(part)
    digest_part = root / f".{listing}.{uuid.uuid4().hex}.sha256"
    digest_part.write_text(digest)
    os.replace(part, archive)
    os.replace(digest_part, digest_file)
    return archive, digest


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def upload_dir(job: HostJob) -> Path:
    return Path(settings.DOJO_RUNNER_UPLOAD_ROOT) / str(job.pk)


def upload_store(
    *, job: HostJob, name: str, size: int, sha256: str, stream: io.RawIOBase
) -> None:
    """Store `size` bytes from `stream` as the job's upload `name`, only if whole.

    The caller has checked the request's length equals `size`; the stream
    ends there, so a body cut short reads fewer bytes and is refused.
    """
    target = upload_dir(job)
    target.mkdir(parents=True, exist_ok=True)
    part = target / f".{name}.{uuid.uuid4().hex}.part"
    digest = hashlib.sha256()
    received = 0
    try:
        with part.open("wb") as handle:
            while received < size:
                chunk = stream.read(min(CHUNK, size - received))
                if not chunk:
                    break
                received += len(chunk)
                digest.update(chunk)
                handle.write(chunk)
        if received != size:
            raise RunnerRefused(
                f"upload: {received} of {size} bytes arrived; nothing was kept."
            )
        if digest.hexdigest() != sha256:
            raise RunnerRefused(
                "upload: its sha256 is not the one it was signed for; nothing was kept."
            )
        os.replace(part, target / name)
    finally:
        part.unlink(missing_ok=True)


def upload_forget(*, job: HostJob, name: str) -> None:
    """Remove a stored upload the job may no longer give back."""
    (upload_dir(job) / name).unlink(missing_ok=True)


def uploads_discard(job: HostJob) -> None:
    folders.discard(upload_dir(job))
