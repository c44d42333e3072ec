"""Template filters: sanitized Markdown, percentages, status badges."""

import bleach
import markdown as markdown_lib
from django import template
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

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


@register.filter
def markdown(text: str) -> SafeString:
    return render_markdown(text)


@register.filter
def pct(value: float | None, digits: int = 1) -> str:
    if value is None or value == "":
        return "—"
    return f"{float(value) * 100:.{int(digits)}f}%"


@register.filter
def points(value: float | None) -> str:
    if value is None or value == "":
        return "—"
    return f"{float(value):.1f}"


@register.filter
def get(mapping: dict, key: object) -> object:
    return mapping.get(key) if hasattr(mapping, "get") else None
