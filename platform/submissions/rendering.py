"""Submitted code as safe HTML: Pygments for scripts, nbconvert for notebooks."""

import bleach
from django.utils.safestring import SafeString, mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from dashboard.templatetags.dojo import ALLOWED_TAGS


def code_to_html(raw: bytes, fmt: str) -> SafeString:
    text = raw.decode("utf-8", errors="replace")
    if fmt == "ipynb":
        try:
            return _notebook_html(text)
        except Exception:  # noqa: BLE001 - a broken notebook is shown as text
            pass
    return mark_safe(highlight(text, PythonLexer(), HtmlFormatter(linenos="table")))


def _notebook_html(text: str) -> SafeString:
    import nbformat
    from nbconvert import HTMLExporter

    notebook = nbformat.reads(text, as_version=4)
    exporter = HTMLExporter(template_name="basic", sanitize_html=True)
    body, _ = exporter.from_notebook_node(notebook)
    # nbconvert sanitizes outputs and Markdown; strip anything else it let through.
    clean = bleach.clean(
        body,
        tags=ALLOWED_TAGS,
        attributes={"*": ["class"]},
        protocols={"http", "https"},
        strip=True,
    )
    return mark_safe(clean)
