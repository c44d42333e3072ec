"""Theory notes: kept when the pack is loaded, drawn with the site's chart code.

A note is the pack's Markdown; a line "[[figure:NAME]]" places a figure whose
numbers were computed when the workshop was loaded (``assignments.figures``).
The numbers file is read as untrusted input: every figure checks what it
draws, and a figure that cannot be drawn says so instead of failing the page.
"""

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from web import charts
from web.images import png_data_uri
from web.markdown import render_markdown
from workshops import folders
from workshops.folders import cached_build, data_slice, sha256_json
from workshops.models import Assignment, Workshop

if TYPE_CHECKING:
    from assignments.pack import Pack

# Bump when assignments.figures changes what it computes: the cache key follows.
FIGURES_VERSION = 1
MAX_FIGURE_BYTES = 2_000_000
# Sigmoid and tanh change within a few units of zero: past +-4 they are flat,
# and ReLU's growth would squash them into a sliver of the chart's height.
ACTIVATION_X = (-4.0, 4.0)
ACTIVATION_Y = (-1.25, 2.25)
PLACEHOLDER = re.compile(r"<p>\[\[figure:([a-z-]+)\]\]</p>")


def notes_dir(workshop_id: int) -> Path:
    return Path(settings.DOJO_DATA_ROOT) / "workshops" / str(workshop_id) / "notes"


def workshop_notes_prepare(
    *, workshop: Workshop, pack: "Pack", assignments: list[Assignment]
) -> None:
    """Store the pack's notes and compute the figures they place."""
    folder = notes_dir(workshop.pk)
    folder.mkdir(parents=True, exist_ok=True)
    index = {}
    for note in pack.notes:
        _write(folder / f"{note.slug}.md", note.markdown)
        index[note.slug] = {"title": note.title, "figures": list(note.figures)}
    _write(folder / "index.json", json.dumps(index))
    if not any(note.figures for note in pack.notes):
        return
    by_kind = {a.kind: a for a in reversed(assignments)}
    models = by_kind.get(Assignment.Kind.CNN) or by_kind.get(Assignment.Kind.MLP)
    transfer = by_kind.get(Assignment.Kind.TRANSFER)
    if models is None:
        return
    if models.spec.get("checks", {}).get("input_kind") == "tokens":
        _text_figures_prepare(folder=folder, models=models)
        return
    from assignments.figures import build_figures

    slice_ = data_slice()
    key = [
        FIGURES_VERSION,
        models.spec.get("dataset"),
        transfer.spec.get("dataset") if transfer else None,
        slice_,
    ]
    train_dir = folders.assignment_train_dir

    def build(target: Path) -> None:
        base = train_dir(transfer.pk) / "base.keras" if transfer else None
        build_figures(
            target / "figures.json",
            train_dir=train_dir(models.pk),
            hidden_dir=folders.assignment_hidden_dir(models.pk),
            transfer_hidden_dir=(
                folders.assignment_hidden_dir(transfer.pk) if transfer else None
            ),
            base_path=base if base and base.is_file() else None,
            per_class=min(500, slice_["train_per_class"] or 500),
            epochs=3 if slice_["train_per_class"] else 5,
        )

    cache = cached_build(f"figures-{sha256_json(key)[:16]}", build)
    _write(folder / "figures.json", (cache / "figures.json").read_text())


def _text_figures_prepare(*, folder: Path, models: Assignment) -> None:
    """Count a text pack's figures from its training split (no training)."""
    from assignments.text_figures import build_text_figures

    train = folders.assignment_train_dir(models.pk)
    if not (train / "train.npz").is_file():
        return  # no data (a package missing): the page says the figure is not there
    build_text_figures(folder / "figures.json", train_dir=train)


def _write(path: Path, text: str) -> None:
    """Replace a file whole: a page read meanwhile sees the old or the new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def note_list(*, workshop: Workshop) -> dict[str, dict]:
    """Return {slug: {"title", "figures"}} for the workshop's notes."""
    try:
        index = json.loads((notes_dir(workshop.pk) / "index.json").read_text())
    except (OSError, ValueError):
        return {}
    return index if isinstance(index, dict) else {}


def note_for_block(*, workshop: Workshop, assignment_slug: str) -> dict | None:
    """Return the notes of the theory block just before an assignment's block."""
    notes, last = note_list(workshop=workshop), None
    for item in workshop.agenda or []:
        if not isinstance(item, dict):
            continue
        if item.get("notes") in notes:
            last = {"slug": item["notes"], "title": notes[item["notes"]]["title"]}
        if item.get("assignment") == assignment_slug:
            return last
    return None


def note_render(*, workshop: Workshop, slug: str) -> SafeString | None:
    """Return the note's HTML with its figures drawn, or None if there is none."""
    if slug not in note_list(workshop=workshop):
        return None
    folder = notes_dir(workshop.pk)
    text = (folder / f"{slug}.md").read_text(encoding="utf-8")
    figures = _read_figures(folder / "figures.json")
    html = str(render_markdown(text))
    names = _class_names(workshop)

    def figure(match: re.Match) -> str:
        drawn = _draw(match.group(1), figures.get(match.group(1)), names)
        return (
            f'<figure class="note-figure" id="figure-{match.group(1)}">{drawn}</figure>'
        )

    return mark_safe(PLACEHOLDER.sub(figure, html))


def _read_figures(path: Path) -> dict:
    try:
        if path.stat().st_size > MAX_FIGURE_BYTES:
            return {}
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _class_names(workshop: Workshop) -> dict[str, list[str]]:
    names = {}
    for assignment in workshop.assignments.all():
        value = assignment.spec.get("class_names")
        if isinstance(value, list):
            names[assignment.kind] = [str(v) for v in value]
    return names


def _draw(name: str, data: object, names: dict[str, list[str]]) -> str:
    missing = '<p class="muted">This figure is not available for this workshop.</p>'
    if not isinstance(data, dict):
        return missing
    if name == "activations":
        x, series = _within(data.get("x"), data.get("series"), ACTIVATION_X)
        drawn = charts.line_chart(
            series=series,
            x=x,
            title="Activation functions",
            x_label="input",
            y_label="output",
            y_range=ACTIVATION_Y,
        )
    elif name == "loss-curve":
        drawn = charts.line_chart(
            series={
                "training loss": data.get("loss"),
                "val_loss": data.get("val_loss"),
            },
            title="The reference MLP's loss, epoch by epoch",
            x_label="epoch",
            y_label="loss",
        )
    elif name == "learning-rates":
        runs = data.get("loss") if isinstance(data.get("loss"), dict) else {}
        drawn = charts.line_chart(
            series={f"lr {k}": v for k, v in runs.items()},
            title="Plain SGD, three learning rates",
            x_label="epoch",
            y_label="training loss",
            y_max=5.0,
        )
    elif name == "conv-filters":
        drawn = _image_row(
            data.get("filters"), data.get("size"), "filter", scale=8, strip=True
        )
    elif name == "feature-maps":
        drawn = _feature_maps(data, names.get("cnn") or names.get("mlp") or [])
    elif name == "pca-features":
        labels = data.get("labels")
        if not isinstance(labels, list) or not all(isinstance(v, int) for v in labels):
            return missing
        drawn = charts.scatter_panels(
            panels={"raw pixels": data.get("raw"), "base features": data.get("base")},
            labels=labels,
            names=names.get("transfer") or [],
            title="Public test images of the new classes, projected to 2-D (PCA)",
        )
    elif name == "class-balance":
        drawn = _class_balance(data.get("counts"), names.get("mlp") or [])
    elif name == "definition-lengths":
        counts = data.get("definitions")
        drawn = charts.line_chart(
            series={"definitions": counts},
            x=data.get("lengths"),
            title="How many words the training definitions hold",
            x_label="words (after the cut)",
            y_label="definitions",
        )
    else:
        return missing
    return str(drawn) or missing


def _class_balance(counts: object, names: list[str]) -> str:
    """Return a table of each category's training definitions, largest first."""
    if not (
        isinstance(counts, list)
        and 0 < len(counts) <= 100
        and all(
            isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts
        )
        and sum(counts) > 0
    ):
        return ""
    total = sum(counts)
    rows = []
    for label in sorted(range(len(counts)), key=lambda k: (-counts[k], k)):
        name = names[label] if label < len(names) else str(label)
        share = counts[label] / total
        rows.append(
            f'<tr><td>{escape(name)}</td><td class="num">{counts[label]:,}</td>'
            f'<td class="num">{share:.1%}</td></tr>'
        )
    return (
        '<div class="table-wrap"><table id="class-balance">'
        "<caption>Training definitions per category</caption>"
        '<thead><tr><th scope="col">Category</th>'
        '<th scope="col" class="num">Definitions</th>'
        '<th scope="col" class="num">Share</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _png(pixels: object, size: object) -> str | None:
    if not (
        isinstance(size, list)
        and len(size) == 2
        and all(isinstance(d, int) and 0 < d <= 64 for d in size)
    ):
        return None
    height, width = size
    if not (
        isinstance(pixels, list)
        and len(pixels) == height * width
        and all(isinstance(v, int) and 0 <= v <= 255 for v in pixels)
    ):
        return None
    return png_data_uri(bytes(pixels), height=height, width=width, channels=1)


def _within(
    x: object, series: object, bounds: tuple[float, float]
) -> tuple[list | None, dict]:
    """Keep the points whose x lies within bounds (figures built before sampled
    a wider range); anything malformed goes to the chart as it is, to be refused.
    """
    if not (isinstance(x, list) and isinstance(series, dict)):
        return x, series if isinstance(series, dict) else {}
    keep = [
        i
        for i, v in enumerate(x)
        if isinstance(v, int | float) and bounds[0] <= v <= bounds[1]
    ]
    if not keep:
        return x, series
    trimmed = {
        name: [values[i] for i in keep if i < len(values)]
        if isinstance(values, list)
        else values
        for name, values in series.items()
    }
    return [x[i] for i in keep], trimmed


def _image_row(
    images: object, size: object, what: str, *, scale: int, strip: bool = False
) -> str:
    if not isinstance(images, list):
        return ""
    cells = []
    for number, pixels in enumerate(images[:32], start=1):
        src = _png(pixels, size)
        if src is None:
            return ""
        px = size[0] * scale
        cells.append(
            f'<img class="pixelated" src="{src}" width="{px}" height="{px}" '
            f'alt="{escape(what)} {number}">'
        )
    kind = "image-row filter-strip" if strip else "image-row"
    return f'<div class="{kind}">{"".join(cells)}</div>'


def _feature_maps(data: dict, names: list[str]) -> str:
    images, size = data.get("images"), data.get("size")
    if not isinstance(images, list):
        return ""
    rows = []
    for item in images[:10]:
        if not isinstance(item, dict) or not isinstance(item.get("label"), int):
            return ""
        label = item["label"]
        name = names[label] if 0 <= label < len(names) else str(label)
        image = _image_row([item.get("pixels")], size, name, scale=3)
        maps = _image_row(item.get("maps"), size, f"{name}, feature map", scale=2)
        if not image or not maps:
            return ""
        rows.append(
            f'<div class="map-row"><span class="map-label">{escape(name)}</span>'
            f"{image}{maps}</div>"
        )
    return "".join(rows)
