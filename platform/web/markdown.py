"""Markdown rendered to HTML that keeps only harmless tags and attributes."""

import bleach
import markdown as markdown_lib
from django.utils.safestring import SafeString, mark_safe

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "dd",
    "del",
    "div",
    "dl",
    "dt",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "kbd",
    "li",
    "ol",
    "p",
    "pre",
    "span",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
ALLOWED_ATTRIBUTES = {"a": ["href", "title"], "abbr": ["title"], "*": ["class"]}


def render_markdown(text: str) -> SafeString:
    """Render Markdown to HTML, then keep only harmless tags and attributes."""
    html = markdown_lib.markdown(
        text or "", extensions=["fenced_code", "tables", "sane_lists"]
    )
    clean = bleach.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        protocols={"http", "https", "mailto"},
        strip=True,
    )
    return mark_safe(clean)
