"""Submitted code as safe HTML, in time that grows with its size and no faster.

Scripts are highlighted with Pygments. Notebooks are shown cell by cell: code
cells highlighted, Markdown cells as escaped text. Rendering Markdown (nbconvert,
mistune) takes time that grows about with the square of some inputs, and this
runs in a web request, so it is never done here.
"""

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from workers.outputs import UntrustedOutputError, loads_bounded

# What one cell shows; the whole file stays downloadable as it was sent.
MARKDOWN_CELL_CHARS = 4_000
CODE_CELL_CHARS = 64_000
MAX_CELLS = 500
NOTEBOOK_DEPTH = 64


def code_to_html(raw: bytes, fmt: str) -> SafeString:
    """Return ``raw`` (a script or a notebook) as escaped, highlighted HTML."""
    if fmt == "ipynb":
        cells = _notebook_cells(raw)
        if cells is not None:
            return _cells_html(cells)
    text = raw.decode("utf-8", errors="replace")
    return mark_safe(highlight(text, PythonLexer(), HtmlFormatter(linenos="table")))


def _notebook_cells(raw: bytes) -> list[tuple[str, str]] | None:
    """Return (cell type, source) pairs, or None where this is no notebook."""
    try:
        notebook = loads_bounded(raw, max_depth=NOTEBOOK_DEPTH)
    except UntrustedOutputError:
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


def _shortened(text: str, limit: int) -> tuple[str, str]:
    if len(text) <= limit:
        return text, ""
    return text[:limit], (
        f'<p class="muted small">Cell shortened: showing {limit:,} of '
        f"{len(text):,} characters.</p>"
    )


def _cells_html(cells: list[tuple[str, str]]) -> SafeString:
    parts = []
    for kind, source in cells:
        if kind == "code":
            text, note = _shortened(source, CODE_CELL_CHARS)
            body = highlight(text, PythonLexer(), HtmlFormatter())
            parts.append(f'<div class="cell code">{body}{note}</div>')
        else:
            text, note = _shortened(source, MARKDOWN_CELL_CHARS)
            parts.append(
                f'<div class="cell markdown"><pre class="markdown-source">'
                f"{escape(text)}</pre>{note}</div>"
            )
    return mark_safe("\n".join(parts))
