"""Convert between notebooks and the editor's percent-format script with Jupytext.

The editor holds a Python script in the percent format (``# %%`` code cells,
``# %% [markdown]`` text cells). Notebooks come in and go out through Jupytext,
so a draft round-trips with Jupyter, VS Code and Spyder.
"""

import functools
import hashlib
import json
import re
from pathlib import Path

import jupytext
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError

from workers.notebook import NotebookRefused, notebook_to_script
from workshops import folders

# Keep the editor's text free of Jupytext's YAML header and cell metadata.
_FILTERS = {"notebook_metadata_filter": "-all", "cell_metadata_filter": "-all"}
_KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}
# A line the percent reader may take for a cell marker (its two patterns, merged).
_MARKER = re.compile(r"^\s*#\s*(%%|<codecell>|In\[[0-9 ]*\]:?)")
EXPORT_KEPT_SECONDS = 3600


def _percent(notebook) -> str:
    notebook.metadata["jupytext"] = dict(_FILTERS)
    return jupytext.writes(notebook, fmt="py:percent")


def too_many_cells(count: int) -> str:
    """Return the reason a draft of ``count`` cells is refused."""
    return (
        f"Your draft has {count:,} cells; the limit is "
        f"{settings.DOJO_DRAFT_MAX_CELLS:,}, so it was not saved. It is still in "
        "the editor: merge small cells (remove some # %% lines)."
    )


def notebook_to_percent(raw: bytes) -> str:
    """Return a notebook as a percent script; refuse what cannot run in a sandbox."""
    try:
        parsed = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ValidationError(
            "This .ipynb file is not a Jupyter notebook (it is not valid JSON). "
            "Save it again from Jupyter (File > Save) and open that file."
        ) from None
    cells = parsed.get("cells") if isinstance(parsed, dict) else None
    if isinstance(cells, list) and len(cells) > settings.DOJO_DRAFT_MAX_CELLS:
        raise ValidationError(too_many_cells(len(cells)))
    try:
        # The same check a submission gets: shell escapes (!cmd, %%bash) refused.
        notebook_to_script(raw)
        notebook = jupytext.reads(raw.decode("utf-8-sig"), fmt="ipynb")
    except NotebookRefused as exc:
        raise ValidationError(str(exc)) from None
    except (MemoryError, RecursionError):
        raise ValidationError("The notebook is nested too deeply to read.") from None
    except Exception as exc:  # noqa: BLE001 (any reader error is the file's)
        raise ValidationError(
            f"The notebook could not be read ({type(exc).__name__}). Save it again "
            "from Jupyter and open the .ipynb file."
        ) from None
    return _percent(notebook)


def cell_count(text: str) -> int:
    """Return at most how many cells the percent reader finds in ``text``.

    One pass over the lines: a marker inside a string counts too, so this never
    counts fewer cells than the reader makes.
    """
    return 1 + len(_MARKER_ANYWHERE.findall("\n" + text))


# `_MARKER` at the start of every line as str.splitlines() finds lines, in one
# C-speed scan of the whole text: matching line by line cost 35 ms of a web
# worker for each save of a draft at the size cap. Line breaks are the ones
# splitlines() knows, and no part of the pattern may cross one.
_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_SPACE = rf"[^\S{_BREAKS}]*"
# Each match starts at a line break (the text gets one in front), which the
# engine finds fast; a lookbehind there made every position a start, 60 ms.
_MARKER_ANYWHERE = re.compile(
    rf"[{_BREAKS}]{_SPACE}#{_SPACE}(?:%%|<codecell>|In\[[0-9 ]*\]:?)"
)


# A percent-format cell marker, as the editor writes them: `# %%`, then an
# optional `[markdown]`/`[md]`/`[raw]` and a title or metadata we do not keep.
_CELL = re.compile(r"^# %%(?P<rest>.*)$")


def percent_cells(text: str) -> list[tuple[str, str]]:
    """Return (cell type, source) pairs of a percent script, in one pass.

    The cells Jupytext's reader makes of the editor's drafts (the starters and
    references are checked against it in tests/workspace/test_drafts.py), at a
    cost linear in the text: the reader's grows with cells times lines.
    """
    cells: list[tuple[str, str]] = []
    kind, lines, started = "code", [], False

    def close() -> None:
        body = list(lines)
        if kind == "markdown":
            body = [
                line[2:]
                if line.startswith("# ")
                else line[1:]
                if line.startswith("#")
                else line
                for line in body
            ]
        while body and not body[-1].strip():
            body.pop()
        if started or body:
            cells.append((kind, "\n".join(body)))

    for line in text.split("\n"):
        marker = _CELL.match(line)
        if marker is None:
            lines.append(line)
            continue
        close()
        rest = marker["rest"].strip()
        if rest.startswith(("[markdown]", "[md]")):
            kind = "markdown"
        elif rest.startswith("[raw]"):
            kind = "raw"
        else:
            kind = "code"
        lines, started = [], True
    close()
    return cells


def percent_to_notebook(text: str) -> str:
    """Return a percent script as notebook JSON (without outputs).

    Converted in one pass (`percent_cells`), then served from the cache by its
    digest: Jupytext's reader took 2.5 to 3 s of a web worker for a draft at the
    cell cap (and 84 s for 100,000 cells).
    """
    key = "draft-export:" + hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()
    cached = cache.get(key)
    if isinstance(cached, str):
        return cached
    # The notebook is nbformat 4.5 (ids, sources as lists of lines) written
    # without nbformat's schema validation of every cell and again of the whole
    # (300 ms of a web worker for a draft at the cell cap; a test validates the
    # output), and without indenting, which sends json to its pure-Python
    # encoder (another 150 ms). Jupyter indents it again on its first save.
    cells = []
    for number, (kind, source) in enumerate(percent_cells(text)):
        cell = {
            "cell_type": kind,
            "id": f"cell-{number}",
            "metadata": {},
            "source": source.splitlines(keepends=True),
        }
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        cells.append(cell)
    notebook = {
        "cells": cells,
        "metadata": {"kernelspec": _KERNEL},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    body = json.dumps(notebook, sort_keys=True, ensure_ascii=False) + "\n"
    cache.set(key, body, timeout=EXPORT_KEPT_SECONDS)
    return body


def starter_text(assignment_id: int) -> str:
    """Return the assignment's starter notebook as a percent script ("" if none)."""
    path = folders.assignment_materials_dir(assignment_id) / "starter.ipynb"
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return ""
    return _starter_cached(str(path), mtime)


@functools.lru_cache(maxsize=64)
def _starter_cached(path: str, mtime: int) -> str:
    notebook = jupytext.reads(Path(path).read_text(encoding="utf-8"), fmt="ipynb")
    return _percent(notebook)
