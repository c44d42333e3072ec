"""The S3-compatible object store runner files move through (DOJO_OBJECT_STORE=s3).

Through django-storages' S3 backend (boto3). What lives there, and for how long:

- `scripts/<sha256>.py` and `data/<sha256>.tar`: a run's script and a training
  split's archive, named by their content's sha256, written once (a second
  writer writes the same bytes) and handed out as presigned GETs that live
  DOJO_RUNNER_URL_SECONDS. The hidden and public test splits are never written
  here: nothing in this module is given their folders.
- `staging/<run>/<name>.<nonce>`: an upload, by a presigned PUT made when the
  upload starts, bound to its exact length and sha256 (signed headers the
  store checks). It is never the model: when a result names it, the site's
  worker, before the evaluation (`runners.settle`), reads it back, counting
  and hashing, onto the site's disk, keeps it only if both match, and deletes
  the staging objects of the run either way. No web request reads it.

The site signs with its own keys; a runner holds none. Presigned URLs name
DOJO_S3_PUBLIC_URL (the address runners reach) when it is set: signing needs
no connection, so the site may reach the store by another name.
"""

import base64
import hashlib
import os
import uuid
from functools import cache
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile, File

from runners.refusals import RunnerRefused

CHUNK = 1024 * 1024
SCRIPTS, DATA, STAGING = "scripts", "data", "staging"
# Staging objects a handed-back run left are removed by the store itself.
STAGING_DAYS = 1


@cache
def _storage(
    endpoint: str, bucket: str, key_id: str, secret: str, region: str, expire: int
):
    from botocore.config import Config
    from storages.backends.s3 import S3Storage

    return S3Storage(
        bucket_name=bucket,
        endpoint_url=endpoint,
        access_key=key_id,
        secret_key=secret,
        region_name=region,
        addressing_style="path",
        signature_version="s3v4",
        file_overwrite=True,
        querystring_expire=expire,
        # Checksums only where an operation requires one: the store need not
        # speak the newer streaming-trailer checksums.
        client_config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
        ),
    )


def _configured(endpoint: str):
    return _storage(
        endpoint,
        settings.DOJO_S3_BUCKET,
        settings.DOJO_S3_ACCESS_KEY_ID,
        settings.DOJO_S3_SECRET_ACCESS_KEY,
        settings.DOJO_S3_REGION,
        settings.DOJO_RUNNER_URL_SECONDS,
    )


def store():
    """Return the django-storages backend the site reads and writes with."""
    return _configured(settings.DOJO_S3_ENDPOINT_URL)


def _signer():
    """Return a backend that signs URLs naming the address runners reach."""
    return _configured(settings.DOJO_S3_PUBLIC_URL or settings.DOJO_S3_ENDPOINT_URL)


def _client():
    return store().connection.meta.client


@cache
def _bucket_ready(endpoint: str, bucket: str) -> None:
    from botocore.exceptions import ClientError

    client = _client()
    try:
        client.head_bucket(Bucket=bucket)
        return
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
            raise
    client.create_bucket(Bucket=bucket)
    client.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "staging-expires",
                    "Filter": {"Prefix": f"{STAGING}/"},
                    "Status": "Enabled",
                    "Expiration": {"Days": STAGING_DAYS},
                }
            ]
        },
    )


def bucket_ready() -> None:
    """Make the bucket once per process where it is missing."""
    _bucket_ready(settings.DOJO_S3_ENDPOINT_URL, settings.DOJO_S3_BUCKET)


def script_key(sha256: str) -> str:
    return f"{SCRIPTS}/{sha256}.py"


def data_key(sha256: str) -> str:
    return f"{DATA}/{sha256}.tar"


def staging_prefix(job_id: int) -> str:
    return f"{STAGING}/{job_id}/"


def object_put_once(*, key: str, source: Path | bytes) -> None:
    """Write a content-named object unless it is there already."""
    bucket_ready()
    if store().exists(key):
        return
    if isinstance(source, bytes):
        store().save(key, ContentFile(source))
        return
    with open(source, "rb") as handle:
        store().save(key, File(handle))


def download_url(*, key: str) -> str:
    """Return a presigned GET of `key`, valid for DOJO_RUNNER_URL_SECONDS."""
    return _signer().url(key, expire=settings.DOJO_RUNNER_URL_SECONDS)


def upload_url(*, job_id: int, name: str, size: int, sha256: str) -> dict:
    """Return a presigned PUT to a fresh staging key for exactly these bytes.

    The length and the sha256 are signed headers: the store refuses a body of
    another length (403) or with other bytes (400). `headers` are what the
    runner must send with the body.
    """
    bucket_ready()
    key = f"{staging_prefix(job_id)}{name}.{uuid.uuid4().hex}"
    checksum = base64.b64encode(bytes.fromhex(sha256)).decode()
    url = _signer().connection.meta.client.generate_presigned_url(
        "put_object",
        Params={
            "Bucket": settings.DOJO_S3_BUCKET,
            "Key": key,
            "ContentLength": size,
            "ChecksumSHA256": checksum,
        },
        ExpiresIn=settings.DOJO_RUNNER_URL_SECONDS,
    )
    return {"url": url, "key": key, "headers": {"x-amz-checksum-sha256": checksum}}


def object_fetch_verified(*, key: str, size: int, sha256: str, target: Path) -> None:
    """Copy a staged upload to `target` only if it has exactly `size` and `sha256`.

    Reads at most `size` + 1 bytes whatever the store says, so the work is
    bounded by the length the upload was signed for.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    part = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
    digest, received = hashlib.sha256(), 0
    try:
        try:
            answer = _client().get_object(
                Bucket=settings.DOJO_S3_BUCKET, Key=key, Range=f"bytes=0-{size}"
            )
            body = answer["Body"]
            with part.open("wb") as handle:
                while chunk := body.read(min(CHUNK, size + 1 - received)):
                    received += len(chunk)
                    digest.update(chunk)
                    handle.write(chunk)
            body.close()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in ("NoSuchKey", "404", "InvalidRange"):
                raise RunnerRefused(
                    f"The object store could not be read ({code}): send the "
                    "result again.",
                    503,
                ) from None
            raise RunnerRefused(
                f"{target.name} never arrived whole in the object store.", 409
            ) from None
        except BotoCoreError as exc:
            raise RunnerRefused(
                f"The object store could not be read ({exc}): send the result again.",
                503,
            ) from None
        if received != size or digest.hexdigest() != sha256:
            raise RunnerRefused(
                f"{target.name} in the object store does not have the length and "
                "sha256 it was signed for; nothing was kept.",
                409,
            )
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)


def prefix_discard(prefix: str) -> None:
    """Delete every object under `prefix` (a run's staging uploads)."""
    client = _client()
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=settings.DOJO_S3_BUCKET, Prefix=prefix
    )
    for page in pages:
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            client.delete_objects(
                Bucket=settings.DOJO_S3_BUCKET, Delete={"Objects": keys}
            )
