"""Short-lived signed URLs a runner moves files with.

Each URL carries what it allows and for whom: the host, the job, the purpose
(the script, a data archive, an upload), the content's sha256 and, for an
upload, its exact length and name. It is signed with the site's secret
(`django.core.signing`, salted for this use) and expires after
DOJO_RUNNER_URL_SECONDS. The view that answers it checks the signature and
age, then that the host is not revoked and still holds the job: a leaked URL
dies with the job.
"""

from django.conf import settings
from django.core import signing
from django.urls import reverse

from runners.refusals import RunnerRefused

SALT = "runners.file-url"
PURPOSES = ("script", "data", "upload")


def file_url_sign(
    *,
    host_id: int,
    job_id: int,
    purpose: str,
    sha256: str,
    size: int | None = None,
    name: str = "",
) -> str:
    """Return the path of a URL allowing `purpose` on one job's file."""
    payload = {"h": host_id, "j": job_id, "p": purpose, "d": sha256}
    if size is not None:
        payload["n"] = size
    if name:
        payload["f"] = name
    token = signing.dumps(payload, salt=SALT, compress=False)
    return reverse("runner-file", kwargs={"token": token})


def file_url_check(*, token: str, purposes: tuple[str, ...]) -> dict:
    """Return a URL's payload, or refuse one that is tampered, expired or misused."""
    try:
        payload = signing.loads(
            token, salt=SALT, max_age=settings.DOJO_RUNNER_URL_SECONDS
        )
    except signing.SignatureExpired:
        raise RunnerRefused(
            "The URL has expired: ask the site for a new one.", 403
        ) from None
    except signing.BadSignature:
        raise RunnerRefused("The URL is not one this site signed.", 403) from None
    if not isinstance(payload, dict) or payload.get("p") not in purposes:
        raise RunnerRefused(f"The URL does not allow {' or '.join(purposes)}.", 403)
    return payload
