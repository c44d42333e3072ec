"""JSON from untrusted bytes, parsed under a nesting bound (no Django here).

Python's parser recurses: JSON nested a hundred thousand levels deep raises
RecursionError, which is no ValueError. NaN and Infinity parse, and PostgreSQL's
jsonb refuses them. Sandbox outputs (`workers.outputs`), request bodies
(`web.jsonbody`) and stored notebooks all parse through here, each saying in
its own words what was refused.
"""

from __future__ import annotations

import json
from typing import Any


class JSONRefused(ValueError):
    """The bytes are not shallow, finite JSON in UTF-8; the message says why."""


def _check_depth(text: str, *, max_depth: int) -> None:
    """Refuse JSON nested deeper than max_depth before the parser recurses."""
    depth = 0
    in_string = escaped = False
    for char in text:
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
            if depth > max_depth:
                raise JSONRefused(f"nested deeper than {max_depth} levels")
        elif char in "]}":
            depth -= 1


def _refuse_constant(name: str) -> None:
    raise JSONRefused(f"holds {name}, which is not a number JSON allows")


def loads_bounded(data: bytes, *, max_depth: int) -> Any:
    """Parse JSON that is UTF-8, shallow, and free of NaN and Infinity."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise JSONRefused("is not UTF-8 text") from None
    _check_depth(text, max_depth=max_depth)
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, JSONRefused):
            raise
        raise JSONRefused(f"is not valid JSON ({exc})") from None
