"""What a runner downloads (a job's script and training data) and uploads.

The training split travels as one tar archive per folder listing: built once,
deterministically (sorted members, no owners, no times), named by the
listing's digest and answered by its content's sha256, so a host caches it
once per assignment. The hidden split has no URL at all.

An upload is stored only whole: it is written beside its place, counted and
hashed while it streams, and moved into place only when it has exactly the
signed length and sha256. A cut or altered upload leaves nothing, and neither
does one that stalls.

A transfer that makes no progress (a runner that stops sending its upload, or
stops reading its download) holds a web thread for DOJO_RUNNER_STALL_SECONDS
at most under gunicorn, not until its connection ends (`stall_bound`).

Where the bytes travel is DOJO_OBJECT_STORE's choice, and the runner cannot
tell: "local" signs URLs of the site's own views (`runners.signing`), "s3"
presigns URLs of the object store (`runners.objectstore`). Either way a
verified upload ends in the same place on the site's disk, `upload_dir`.
"""

import hashlib
import io
import logging
import os
import tarfile
import uuid
from pathlib import Path

from django.conf import settings

from runners import objectstore
from runners.models import HostJob
from runners.refusals import RunnerRefused
from runners.signing import file_url_sign
from workers.jobspec import folder_digest
from workshops import folders

CHUNK = 1024 * 1024
logger = logging.getLogger(__name__)


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
                try:
                    chunk = stream.read(min(CHUNK, size - received))
                except OSError as exc:
                    # Django's request raises UnreadablePostError from it.
                    if not isinstance(exc.__cause__ or exc, TimeoutError):
                        raise
                    raise RunnerRefused(
                        f"upload: no byte arrived for "
                        f"{settings.DOJO_RUNNER_STALL_SECONDS:g} s; nothing "
                        "was kept.",
                        408,
                    ) from None
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
        try:
            os.replace(part, target / name)
        except FileNotFoundError:
            raise RunnerRefused(
                "upload: it was swept as abandoned while it streamed; nothing "
                "was kept.",
                409,
            ) from None
    finally:
        part.unlink(missing_ok=True)


def stall_bound(environ: dict) -> None:
    """Make each wait of this request on its peer fail after the stall time.

    Under gunicorn `environ["gunicorn.socket"]` is the very socket its worker
    reads the body from and writes the answer to, with blocking calls, after
    the view returns too: a timeout set on it bounds each wait for the next
    byte read (a stalled upload's body read fails with TimeoutError) and for
    room to write the next one (a download whose reader stopped, once the
    socket's buffer is full: gunicorn's sendfile waits on the socket with
    it, then gives up, logs "Socket error processing request." and closes the
    connection). A slow but live transfer is never cut. The timeout stays for
    the rest of this request: gunicorn closes the connection after it
    (gunicorn.conf.py's keepalive 0), and a kept-alive one is made blocking
    again, without it, before its next request. Other servers give no socket
    (runserver: one thread per connection, which a stalled peer then holds
    until its connection ends).
    """
    sock = environ.get("gunicorn.socket")
    if sock is not None:
        sock.settimeout(settings.DOJO_RUNNER_STALL_SECONDS)


def object_store_on() -> bool:
    return settings.DOJO_OBJECT_STORE == "s3"


def download_urls(
    *, job: HostJob, script: bytes, archive: Path, archive_sha256: str
) -> tuple[str, str]:
    """Return the URLs of a job's script and training split archive."""
    script_sha256 = hashlib.sha256(script).hexdigest()
    if object_store_on():
        script_key = objectstore.script_key(script_sha256)
        data_key = objectstore.data_key(archive_sha256)
        objectstore.object_put_once(key=script_key, source=script)
        objectstore.object_put_once(key=data_key, source=archive)
        return (
            objectstore.download_url(key=script_key),
            objectstore.download_url(key=data_key),
        )
    sign = {"host_id": job.host_id, "job_id": job.pk}
    return (
        file_url_sign(**sign, purpose="script", sha256=script_sha256),
        file_url_sign(**sign, purpose="data", sha256=archive_sha256),
    )


def upload_url(*, job: HostJob, name: str, size: int, sha256: str) -> dict:
    """Return `{url, headers}` for one upload, and what to note of it on the job.

    The note (`job.uploads[name]`) is what a result must match. Locally the
    view makes it once it stored the upload whole; with the object store it is
    made here, with the staging key, which `upload_take` verifies on the
    site's worker once a result named it (`runners.settle`).
    """
    if object_store_on():
        signed = objectstore.upload_url(
            job_id=job.pk, name=name, size=size, sha256=sha256
        )
        return {
            "answer": {"url": signed["url"], "headers": signed["headers"]},
            "note": {"sha256": sha256, "size": size, "key": signed["key"]},
        }
    url = file_url_sign(
        host_id=job.host_id,
        job_id=job.pk,
        purpose="upload",
        sha256=sha256,
        size=size,
        name=name,
    )
    return {"answer": {"url": url, "headers": {}}, "note": None}


def upload_take(*, job: HostJob, name: str) -> Path:
    """Return the verified upload `name` on the site's disk.

    Locally it was verified as it arrived. From the object store it is read
    back now (on the site's worker: `runners.settle`), counted and hashed,
    and kept only if it is exactly what the
    upload was signed for: the staging object is never taken on the host's
    word, nor on the store's.
    """
    target = upload_dir(job) / name
    note = job.uploads[name]
    if "key" in note:
        target.parent.mkdir(parents=True, exist_ok=True)
        objectstore.object_fetch_verified(
            key=note["key"], size=note["size"], sha256=note["sha256"], target=target
        )
    return target


def upload_forget(*, job: HostJob, name: str) -> None:
    """Remove a stored upload the job may no longer give back."""
    (upload_dir(job) / name).unlink(missing_ok=True)


def uploads_discard(job: HostJob) -> None:
    folders.discard(upload_dir(job))
    if object_store_on():
        try:
            objectstore.prefix_discard(objectstore.staging_prefix(job.pk))
        except Exception:
            # The store's own expiry of staging/ removes them later.
            logger.warning("Could not remove job %s's staging objects", job.pk)
