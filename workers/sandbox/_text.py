"""Make text from a job safe to store and show: no terminal or bidi controls.

A job's log and anything derived from it (a reason quoting its last error line,
a layer name in a grader check) can hold ANSI escapes that repaint a terminal,
right-to-left overrides that make a page lie about what it shows, and NUL, which
PostgreSQL refuses in text columns. Each such character becomes a visible
stand-in, so the text is kept and still says what was there.
"""

from __future__ import annotations

from typing import Any

# Unicode bidirectional embeddings, overrides, isolates and marks.
BIDI_CONTROLS = (
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def _table() -> dict[int, str]:
    table: dict[int, str] = {}
    for code in range(0x20):
        if chr(code) not in "\n\t":
            # The "control pictures" block: NUL shows as ␀, ESC as ␛.
            table[code] = chr(0x2400 + code)
    table[0x7F] = "\u2421"
    for code in range(0x80, 0xA0):
        table[code] = f"<U+{code:04X}>"
    for char in BIDI_CONTROLS:
        table[ord(char)] = f"<U+{ord(char):04X}>"
    return table


_NEUTRAL = _table()


def neutralise(text: str) -> str:
    """Return ``text`` with C0/C1 controls (not newline or tab), DEL, NUL and
    bidi controls replaced by visible stand-ins."""
    return text.translate(_NEUTRAL)


def neutralise_json(value: Any) -> Any:
    """Return a JSON-like value with every string in it (keys too) neutralised."""
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, dict):
        return {neutralise(str(k)): neutralise_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [neutralise_json(v) for v in value]
    return value
