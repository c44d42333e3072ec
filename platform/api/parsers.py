"""JSON request bodies parsed under a size and a nesting bound.

DRF's JSONParser lets Python's parser recurse: a body nested 50,000 levels deep
raises RecursionError, which is no ValueError, and the answer was a 500.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from web.jsonbody import BodyRefused, body_loads

MAX_DEPTH = 16


class BoundedJSONParser(JSONParser):
    """Parse a JSON body of bounded size and depth, or answer 400 saying why."""

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        """Return the parsed body; raise ParseError for anything unusable."""
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise ParseError(f"The JSON body is larger than {limit // 1024} KB.")
        if not raw.strip():
            return {}
        try:
            return body_loads(raw, max_depth=MAX_DEPTH)
        except BodyRefused as exc:
            raise ParseError(f"The JSON body {exc}.") from None
