"""Read a check request's JSON body with a size and a depth bound."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.http.request import RawPostDataException

from web.jsonbody import BodyRefused, body_loads

# Source code escaped as JSON grows a little ("\n", "\""); an escape-heavy body
# past this is refused rather than read.
JSON_OVERHEAD = 2
# {"source": "..."} needs one level; a little room for clients that wrap it.
MAX_DEPTH = 4


def body_limit() -> int:
    return settings.DOJO_UPLOAD_MAX_BYTES * JSON_OVERHEAD + 4096


def source_from_body(request: HttpRequest) -> object:
    """Return the "source" field of a JSON object body, or refuse the body."""
    limit = body_limit()
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = limit + 1
    if length > limit:
        raise ValidationError(
            f"The request is larger than {limit // 1024} KB. Keep only your "
            "training code in the editor.",
            code="too_large",
        )
    # The length was checked, so this reads at most `limit` bytes (Django's
    # stream stops at CONTENT_LENGTH); the CSRF check may have read it already.
    try:
        raw = request.body
    except RawPostDataException:  # a multipart form, already parsed
        raise ValidationError('Send a JSON object such as {"source": "..."}.') from None
    if len(raw) > limit:
        raise ValidationError(
            f"The request is larger than {limit // 1024} KB.", code="too_large"
        )
    try:
        body = body_loads(raw, max_depth=MAX_DEPTH)
    except BodyRefused:
        raise ValidationError(
            'Send a JSON object such as {"source": "..."} (UTF-8).'
        ) from None
    if not isinstance(body, dict) or "source" not in body:
        raise ValidationError('Send a JSON object such as {"source": "..."}.')
    return body["source"]
