"""Charts drawn on the server as inline SVG: no JavaScript, no CDN.

Each function returns markup safe to put in a template; every text it draws
is escaped.
"""

import math
import zlib
from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

FONT = 'font-family="system-ui, sans-serif" font-size="11"'
AXIS = "#6b7280"
PALETTE = ["#2563eb", "#ea580c", "#16a34a", "#9333ea", "#db2777", "#0891b2"]


def _svg(width: int, height: int, title: str, body: list[str]) -> SafeString:
    label = escape(title)
    return mark_safe(
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{label}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{label}</title>{''.join(body)}</svg>"
    )


def _text(
    x: float, y: float, text: object, anchor: str = "middle", extra: str = ""
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {FONT} '
        f'fill="#374151" {extra}>{escape(str(text))}</text>'
    )


def accuracy_histogram(
    values: Sequence[float],
    *,
    bins: int = 10,
    title: str = "Distribution of public accuracy",
) -> SafeString:
    """Draw a histogram of accuracies between 0 and 1 (or the values' range)."""
    low = 0.0 if not values else min(0.0, math.floor(min(values) * 10) / 10)
    step = (1.0 - low) / bins
    counts = [0] * bins
    for value in values:
        index = min(int((value - low) / step), bins - 1) if step else 0
        counts[max(index, 0)] += 1
    return _histogram(counts, low=low, step=step, title=title)


def accuracy_histogram_of_bins(
    counts: Sequence[int], *, title: str = "Distribution of public accuracy"
) -> SafeString:
    """Draw a histogram from counts already binned evenly between 0 and 1."""
    return _histogram(list(counts), low=0.0, step=1.0 / len(counts), title=title)


def _histogram(counts: list[int], *, low: float, step: float, title: str):
    width, height, left, bottom, top, right = 560, 240, 44, 36, 16, 24
    bins = len(counts)
    peak = max(counts) or 1
    plot_w, plot_h = width - left - right, height - top - bottom
    bar_w = plot_w / bins
    body = [
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" '
        f'y2="{top + plot_h}" stroke="{AXIS}"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" '
        f'stroke="{AXIS}"/>',
    ]
    for tick in range(0, 5):
        n = round(peak * tick / 4)
        y = top + plot_h - plot_h * n / peak
        body.append(_text(left - 6, y + 4, n, "end"))
        body.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
            'stroke="#e5e7eb"/>'
        )
    for i, count in enumerate(counts):
        h = plot_h * count / peak
        x = left + i * bar_w
        lo, hi = low + i * step, low + (i + 1) * step
        body.append(
            f'<rect x="{x + 1:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w - 2:.1f}"'
            f' height="{h:.1f}" fill="{PALETTE[0]}" rx="2">'
            f"<title>{lo:.0%}–{hi:.0%}: {count}</title></rect>"
        )
        if count:
            body.append(_text(x + bar_w / 2, top + plot_h - h - 3, count))
    for i in range(0, bins + 1, 2):
        body.append(
            _text(left + i * bar_w, height - bottom + 16, f"{low + i * step:.0%}")
        )
    body.append(_text(left + plot_w / 2, height - 4, "public accuracy"))
    return _svg(width, height, title, body)


def _heat(fraction: float) -> str:
    """Blend white to a deep blue by fraction."""
    r = round(255 - (255 - 30) * fraction)
    g = round(255 - (255 - 64) * fraction)
    b = round(255 - (255 - 175) * fraction)
    return f"rgb({r},{g},{b})"


def confusion_matrix(
    matrix: Sequence[Sequence[int]],
    labels: Sequence[object] | None = None,
    title: str = "Confusion matrix",
) -> SafeString:
    """Draw a heatmap: rows are true classes, columns predicted classes."""
    n = len(matrix)
    if not n:
        return mark_safe("")
    labels = list(labels) if labels else list(range(n))
    longest = max(len(str(label)) for label in labels)
    cell = max(22, min(40, 360 // n))
    # Class names ("Ankle boot") need room: the left margin grows with them and
    # the column labels are slanted.
    slant = longest > 3
    left = max(56, 28 + 7 * longest)
    top = 24 + (round(5 * longest) if slant else 16)
    width, height = (
        left + cell * n + 12 + (5 * longest if slant else 0),
        top + cell * n + 12,
    )
    row_totals = [sum(row) or 1 for row in matrix]
    body = [
        _text(left + cell * n / 2, 12, "predicted"),
        _text(
            14,
            top + cell * n / 2,
            "true",
            extra=(f'transform="rotate(-90 14 {top + cell * n / 2:.1f})"'),
        ),
    ]
    for j in range(n):
        x = left + j * cell + cell / 2
        if slant:
            body.append(
                _text(
                    x,
                    top - 6,
                    labels[j],
                    "start",
                    f'transform="rotate(-45 {x} {top - 6})"',
                )
            )
        else:
            body.append(_text(x, top - 6, labels[j]))
    for i, row in enumerate(matrix):
        body.append(_text(left - 6, top + i * cell + cell / 2 + 4, labels[i], "end"))
        for j, count in enumerate(row):
            fraction = count / row_totals[i]
            x, y = left + j * cell, top + i * cell
            stroke = ' stroke="#16a34a" stroke-width="2"' if i == j else ""
            body.append(
                f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" '
                f'fill="{_heat(fraction)}"{stroke}>'
                f"<title>true {escape(str(labels[i]))}, predicted "
                f"{escape(str(labels[j]))}: {count}</title></rect>"
            )
            if count:
                colour = "#ffffff" if fraction > 0.5 else "#111827"
                body.append(
                    f'<text x="{x + cell / 2}" y="{y + cell / 2 + 4}" '
                    f'text-anchor="middle" {FONT} fill="{colour}">{count}</text>'
                )
    return _svg(width, height, title, body)


def training_curves(history: dict, title: str = "Training curves") -> SafeString:
    """Draw loss and accuracy per epoch side by side (train solid, val dashed)."""
    panels = []
    for metric in ("loss", "accuracy"):
        series = {
            name: [float(v) for v in values if isinstance(v, int | float)]
            for name, values in history.items()
            if isinstance(values, list) and name in (metric, f"val_{metric}")
        }
        series = {k: v for k, v in series.items() if v}
        if series:
            panels.append((metric, series))
    if not panels:
        return mark_safe("")
    pw, ph, left, top, bottom = 300, 220, 46, 44, 34
    width = len(panels) * (pw + 10)
    height = ph
    body = []
    for p, (metric, series) in enumerate(panels):
        ox = p * (pw + 10)
        plot_w, plot_h = pw - left - 12, ph - top - bottom
        values = [v for vs in series.values() for v in vs]
        lo, hi = min(values), max(values)
        if metric == "accuracy":
            lo, hi = min(lo, 1.0), max(hi, 0.0)
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        epochs = max(len(vs) for vs in series.values())
        body.append(
            _text(ox + left + plot_w / 2, 14, metric, extra='font-weight="600"')
        )
        body.append(
            f'<rect x="{ox + left}" y="{top}" width="{plot_w}" height="{plot_h}" '
            'fill="none" stroke="#e5e7eb"/>'
        )
        for t in range(3):
            v = lo + (hi - lo) * t / 2
            y = top + plot_h - plot_h * (v - lo) / (hi - lo)
            body.append(_text(ox + left - 4, y + 4, f"{v:.2f}", "end"))
        for e in range(epochs):
            if epochs <= 10 or e % math.ceil(epochs / 10) == 0:
                x = (
                    ox
                    + left
                    + (plot_w * e / (epochs - 1) if epochs > 1 else plot_w / 2)
                )
                body.append(_text(x, top + plot_h + 14, e + 1))
        body.append(_text(ox + left + plot_w / 2, ph - 4, "epoch"))
        for k, (name, vs) in enumerate(sorted(series.items())):
            colour = PALETTE[0] if not name.startswith("val_") else PALETTE[1]
            span = max(len(vs) - 1, 1)
            points = " ".join(
                f"{ox + left + (plot_w * i / span if len(vs) > 1 else plot_w / 2):.1f},"
                f"{top + plot_h - plot_h * (v - lo) / (hi - lo):.1f}"
                for i, v in enumerate(vs)
            )
            dash = ' stroke-dasharray="5 3"' if name.startswith("val_") else ""
            body.append(
                f'<polyline points="{points}" fill="none" stroke="{colour}" '
                f'stroke-width="2"{dash}><title>{escape(name)}</title></polyline>'
            )
            lx = ox + left + k * (plot_w / 2)
            body.append(
                f'<rect x="{lx:.1f}" y="{top - 13}" width="12" height="3" '
                f'fill="{colour}"/>'
            )
            body.append(_text(lx + 16, top - 8, name, "start"))
    return _svg(width, height, title, body)


def _finite(values: object, limit: int = 500) -> list[float | None]:
    """Keep up to ``limit`` numbers; anything else (NaN, text) becomes a gap."""
    if not isinstance(values, list):
        return []
    kept: list[float | None] = []
    for value in values[:limit]:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        kept.append(float(value) if ok and math.isfinite(value) else None)
    return kept


def line_chart(
    *,
    series: dict,
    x: Sequence[float] | None = None,
    title: str,
    x_label: str,
    y_label: str,
    y_max: float | None = None,
    y_range: tuple[float, float] | None = None,
) -> SafeString:
    """Draw one line per series (numbers; gaps where a value is missing).

    `y_max` flattens larger values onto it; `y_range` fixes the axis and lets a
    line leave the plot where it runs outside (clipped, not flattened).
    """
    lines = {
        str(name)[:40]: _finite(values) for name, values in list(series.items())[:6]
    }
    lines = {k: v for k, v in lines.items() if any(p is not None for p in v)}
    if not lines:
        return mark_safe("")
    length = max(len(v) for v in lines.values())
    xs = _finite(list(x)) if x is not None else [float(i + 1) for i in range(length)]
    if len(xs) < length or any(v is None for v in xs[:length]):
        return mark_safe("")
    values = [p for v in lines.values() for p in v if p is not None]
    if y_max is not None:
        values = [min(p, y_max) for p in values]
    lo, hi = min(values), max(values)
    if y_range is not None:
        lo, hi = y_range
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    x_lo, x_hi = xs[0], xs[length - 1]
    x_span = (x_hi - x_lo) or 1.0
    width, height, left, top, bottom, right = 520, 240, 52, 30, 36, 110
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(i: int) -> float:
        return left + plot_w * (xs[i] - x_lo) / x_span

    def py(v: float) -> float:
        v = min(v, y_max) if y_max is not None else v
        return top + plot_h - plot_h * (v - lo) / (hi - lo)

    body = [
        _text(width / 2, 14, title, extra='font-weight="600"'),
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" '
        'fill="none" stroke="#e5e7eb"/>',
        _text(left + plot_w / 2, height - 4, x_label),
        _text(
            12,
            top + plot_h / 2,
            y_label,
            extra=f'transform="rotate(-90 12 {top + plot_h / 2:.1f})"',
        ),
    ]
    clip = ""
    if y_range is not None:
        # An id per drawing: a page may hold several charts.
        clip_id = f"plot-{zlib.crc32(f'{title}|{lo}|{hi}'.encode()):08x}"
        body.append(
            f'<clipPath id="{clip_id}"><rect x="{left}" y="{top}" '
            f'width="{plot_w}" height="{plot_h}"/></clipPath>'
        )
        clip = f' clip-path="url(#{clip_id})"'
        ticks = [float(v) for v in range(math.ceil(lo), math.floor(hi) + 1)]
    else:
        ticks = [lo + (hi - lo) * t / 2 for t in range(3)]
    if not 2 <= len(ticks) <= 8:
        ticks = [lo + (hi - lo) * t / 2 for t in range(3)]
    for v in ticks:
        body.append(_text(left - 4, py(v) + 4, f"{v:.2f}", "end"))
    for i in sorted({0, length // 2, length - 1}):
        body.append(_text(px(i), top + plot_h + 14, f"{xs[i]:g}"))
    for k, (name, points) in enumerate(lines.items()):
        colour = PALETTE[k % len(PALETTE)]
        segments, current = [], []
        for i, v in enumerate(points):
            if v is None:
                segments, current = segments + [current], []
            else:
                current.append(f"{px(i):.1f},{py(v):.1f}")
        for segment in [*segments, current]:
            if segment:
                body.append(
                    f'<polyline points="{" ".join(segment)}" fill="none" '
                    f'stroke="{colour}" stroke-width="2"{clip}>'
                    f"<title>{escape(name)}</title></polyline>"
                )
        ly = top + 10 + k * 16
        body.append(
            f'<rect x="{left + plot_w + 10}" y="{ly - 4}" width="12" height="3" '
            f'fill="{colour}"/>'
        )
        body.append(_text(left + plot_w + 26, ly, name, "start"))
    return _svg(width, height, title, body)


def scatter_panels(
    *, panels: dict, labels: Sequence[int], names: Sequence[str], title: str
) -> SafeString:
    """Draw 2-D points side by side, one panel per projection, coloured by class."""
    width, height, size, gap, top = 560, 300, 250, 20, 40
    body = [_text(width / 2, 14, title, extra='font-weight="600"')]
    classes = sorted({int(v) for v in labels})
    for p, (panel, points) in enumerate(list(panels.items())[:2]):
        if not isinstance(points, list) or len(points) != len(labels):
            return mark_safe("")
        pairs = [_finite(pt, 2) if isinstance(pt, list) else [] for pt in points]
        if any(len(pt) != 2 or None in pt for pt in pairs):
            return mark_safe("")
        ox = 10 + p * (size + gap)
        xs, ys = [pt[0] for pt in pairs], [pt[1] for pt in pairs]
        x_lo, x_hi, y_lo, y_hi = min(xs), max(xs), min(ys), max(ys)
        body.append(_text(ox + size / 2, top - 8, panel))
        body.append(
            f'<rect x="{ox}" y="{top}" width="{size}" height="{size}" fill="none" '
            'stroke="#e5e7eb"/>'
        )
        for (x, y), label in zip(pairs, labels, strict=True):
            cx = ox + 6 + (size - 12) * (x - x_lo) / ((x_hi - x_lo) or 1)
            cy = top + 6 + (size - 12) * (1 - (y - y_lo) / ((y_hi - y_lo) or 1))
            colour = PALETTE[classes.index(int(label)) % len(PALETTE)]
            body.append(
                f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="2.5" fill="{colour}" '
                'fill-opacity="0.7"/>'
            )
    for k, label in enumerate(classes):
        name = names[label] if 0 <= label < len(names) else str(label)
        x = 10 + k * (width - 20) / max(len(classes), 1)
        colour = PALETTE[k % len(PALETTE)]
        body.append(
            f'<circle cx="{x + 5:.1f}" cy="{height - 10}" r="4" fill="{colour}"/>'
        )
        body.append(_text(x + 13, height - 6, name, "start"))
    return _svg(width, height, title, body)
