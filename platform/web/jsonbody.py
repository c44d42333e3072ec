"""Read JSON request bodies under a size and a nesting bound.

The platform's one way to parse a request body: every view and parser that
takes JSON from a browser or a program parses it here.
"""

from django.conf import settings
from django.http import HttpRequest

from workers import boundedjson

MAX_DEPTH = 8


class BodyRefused(ValueError):
    """The body is too large, too deep or not JSON; ``status`` is the answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def max_body_bytes() -> int:
    # JSON escapes (\n, \") can double a text's size; room for the other fields.
    return 2 * settings.DOJO_UPLOAD_MAX_BYTES + 16 * 1024


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
        data = body_loads(raw, max_depth=MAX_DEPTH) if raw.strip() else {}
    except BodyRefused as exc:
        raise BodyRefused(f"The request's JSON was refused: {exc}.") from None
    if not isinstance(data, dict):
        raise BodyRefused("The request must be a JSON object.")
    return data


def body_loads(raw: bytes, *, max_depth: int) -> object:
    """Return a body's JSON; raise BodyRefused (400) saying what was refused."""
    try:
        return boundedjson.loads_bounded(raw, max_depth=max_depth)
    except boundedjson.JSONRefused as exc:
        raise BodyRefused(str(exc)) from None
