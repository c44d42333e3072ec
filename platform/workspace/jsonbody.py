"""Read a JSON request body under a size and a nesting bound."""

import json

from django.conf import settings
from django.http import HttpRequest

MAX_DEPTH = 8


class BodyRefused(ValueError):
    """The body is too large, too deep or not JSON; ``status`` is the answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def max_body_bytes() -> int:
    # JSON escapes (\n, \") can double a text's size; room for the other fields.
    return 2 * settings.DOJO_UPLOAD_MAX_BYTES + 16 * 1024


def _depth(raw: str) -> int:
    """Return the deepest nesting of arrays and objects, ignoring strings."""
    depth = deepest = 0
    in_string = escaped = False
    for char in raw:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                return deepest
        elif char in "]}":
            depth -= 1
    return deepest


def json_body(request: HttpRequest) -> dict:
    """Return the body's JSON object, or raise BodyRefused with a reason."""
    limit = max_body_bytes()
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise BodyRefused(
            f"The request is {length / 1024:.0f} KB; drafts are limited to "
            f"{settings.DOJO_UPLOAD_MAX_BYTES / 1024:.0f} KB. Nothing was saved; "
            "your text is still in the editor.",
            status=413,
        )
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise BodyRefused("The request is too large; nothing was saved.", status=413)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyRefused("The request is not UTF-8 JSON.") from None
    if _depth(text) > MAX_DEPTH:
        raise BodyRefused("The request's JSON is nested too deeply.")
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError:
        raise BodyRefused("The request is not valid JSON.") from None
    if not isinstance(data, dict):
        raise BodyRefused("The request must be a JSON object.")
    return data
