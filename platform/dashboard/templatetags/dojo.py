"""Template filters: sanitized Markdown, percentages, status badges."""

from django import template
from django.utils.safestring import SafeString

from web.markdown import render_markdown
from web.scores import score_text

register = template.Library()


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
    return score_text(value)


@register.filter
def get(mapping: dict, key: object) -> object:
    return mapping.get(key) if hasattr(mapping, "get") else None
