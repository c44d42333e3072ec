"""Submitted code as safe HTML, at a cost bounded whatever the file's size.

Scripts are highlighted with Pygments. Notebooks are shown cell by cell: code
cells highlighted, Markdown cells as escaped text. Rendering Markdown (nbconvert,
mistune) takes time that grows about with the square of some inputs, and this
runs in a web request, so it is never done here. Highlighting costs about a
millisecond per kilobyte and its HTML is twenty times the source, so the page
shows at most SHOWN_CHARS characters and SHOWN_LINES lines; the whole file is a
download away. A submission's file never changes, so its page is rendered once
and kept in the cache: a participant reloading it costs a cache read.
"""

import hashlib

from django.core.cache import cache
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from workers.boundedjson import JSONRefused, loads_bounded

# What the whole page shows; the whole file stays downloadable as it was sent.
SHOWN_CHARS = 64_000
SHOWN_LINES = 2_000
# What one cell shows.
MARKDOWN_CELL_CHARS = 4_000
CODE_CELL_CHARS = 64_000
MAX_CELLS = 500
NOTEBOOK_DEPTH = 64
# Bump when the HTML changes, so pages rendered before are not served.
RENDER_VERSION = 1
CACHE_SECONDS = 24 * 3600


class _Budget:
    """What is left of the page's characters and lines."""

    def __init__(self) -> None:
        self.chars = SHOWN_CHARS
        self.lines = SHOWN_LINES

    def take(self, text: str) -> str:
        """Return as much of ``text`` as the budget allows, and spend it."""
        kept = text[: self.chars]
        lines = kept.split("\n", self.lines)
        if len(lines) > self.lines:
            kept = "\n".join(lines[: self.lines])
        self.chars -= len(kept)
        self.lines -= kept.count("\n") + 1
        return kept

    @property
    def spent(self) -> bool:
        return self.chars <= 0 or self.lines <= 0


def submission_code_html(*, submission) -> SafeString:
    """Return the submission's code page body, rendered once and then cached."""
    # The stored file's name too: a database reset that reuses the id never
    # meets the page of another file.
    name = hashlib.sha256(submission.file.name.encode()).hexdigest()[:16]
    key = f"submission-code:{RENDER_VERSION}:{submission.pk}:{name}"
    html = cache.get(key)
    if html is None:
        with submission.file.open("rb") as handle:
            raw = handle.read()
        html = str(code_to_html(raw, submission.format))
        cache.set(key, html, CACHE_SECONDS)
    # Our own rendering, stored server-side: escaped when it was made.
    return mark_safe(html)


def code_to_html(raw: bytes, fmt: str) -> SafeString:
    """Return ``raw`` (a script or a notebook) as escaped, highlighted HTML."""
    if fmt == "ipynb":
        cells = _notebook_cells(raw)
        if cells is not None:
            return _cells_html(cells)
    text = raw.decode("utf-8", errors="replace")
    shown = _Budget().take(text)
    body = highlight(shown, PythonLexer(), HtmlFormatter(linenos="table"))
    return mark_safe(body + _rest_note(len(shown), len(text)))


def _rest_note(shown: int, total: int) -> str:
    if shown >= total:
        return ""
    return (
        f'<p class="muted small" data-shortened>Shortened: showing the first '
        f"{shown:,} of {total:,} characters. Download the file to read it all.</p>"
    )


def _notebook_cells(raw: bytes) -> list[tuple[str, str]] | None:
    """Return (cell type, source) pairs, or None where this is no notebook."""
    try:
        notebook = loads_bounded(raw, max_depth=NOTEBOOK_DEPTH)
    except JSONRefused:
        return None
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        return None
    out = []
    for cell in cells[:MAX_CELLS]:
        if not isinstance(cell, dict):
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(part for part in source if isinstance(part, str))
        if isinstance(source, str):
            out.append((str(cell.get("cell_type", "")), source))
    return out


def _shortened(text: str, limit: int, budget: _Budget) -> tuple[str, str]:
    kept = budget.take(text[:limit])
    if len(kept) == len(text):
        return text, ""
    return kept, (
        f'<p class="muted small">Cell shortened: showing {len(kept):,} of '
        f"{len(text):,} characters.</p>"
    )


def _cells_html(cells: list[tuple[str, str]]) -> SafeString:
    budget = _Budget()
    parts = []
    shown = 0
    for kind, source in cells:
        if budget.spent:
            break
        shown += 1
        if kind == "code":
            text, note = _shortened(source, CODE_CELL_CHARS, budget)
            body = highlight(text, PythonLexer(), HtmlFormatter())
            parts.append(f'<div class="cell code">{body}{note}</div>')
        else:
            text, note = _shortened(source, MARKDOWN_CELL_CHARS, budget)
            parts.append(
                f'<div class="cell markdown"><pre class="markdown-source">'
                f"{escape(text)}</pre>{note}</div>"
            )
    if shown < len(cells):
        parts.append(
            f'<p class="muted small" data-shortened>Shortened: showing {shown:,} of '
            f"{len(cells):,} cells. Download the file to read it all.</p>"
        )
    return mark_safe("\n".join(parts))
