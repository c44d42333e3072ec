"""Build each assignment's starter.ipynb from its reference solution.py.

The solution is the single source, in Jupytext's percent format (read with
Jupytext): "# %%" starts a code cell, "# %% [markdown]" a markdown cell, and
"# %% [exercise:NAME]" an exercise cell. In the starter an exercise cell keeps
only its leading "# TODO" comment and a stub that raises NotImplementedError,
so "run all" stops at the first gap with a clear message.

Usage: python -m assignments.build_starters [--check] [PACK_DIR]
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat

PACK_DIR = Path(__file__).parent / "dl101"
EXERCISE_TAG = "exercise"
# Jupytext keeps what follows "# %%" on a cell's header line as its title.
EXERCISE_TITLE = re.compile(r"^\[exercise:([a-z0-9_-]+)\]$")


@dataclass(frozen=True)
class SolutionCell:
    """One cell parsed from a solution script."""

    kind: str  # "code", "markdown" or "exercise"
    source: str
    exercise: str = ""


def parse_solution(text: str) -> list[SolutionCell]:
    """Split a solution script into cells with Jupytext's percent format reader.

    Text before the first "# %%" marker (the module docstring) is skipped.
    """
    notebook = jupytext.reads(text, fmt="py:percent")
    cells = list(notebook.cells)
    if cells and not text.lstrip().startswith("# %%"):
        cells = cells[1:]
    parsed = []
    for cell in cells:
        source = cell.source.strip("\n")
        exercise = EXERCISE_TITLE.match(cell.metadata.get("title", ""))
        if cell.cell_type == "markdown":
            parsed.append(SolutionCell("markdown", source))
        elif exercise:
            parsed.append(SolutionCell("exercise", source, exercise.group(1)))
        else:
            parsed.append(SolutionCell("code", source))
    return parsed


def exercise_stub(source: str) -> str:
    """Keep the exercise's leading comment block; stub the names it defines.

    Each name the reference code assigns starts as None and the cell stops the
    notebook with a clear message until the participant fills it in.
    """
    comments = []
    for line in source.splitlines():
        if not line.startswith("#"):
            break
        comments.append(line)
    names = [
        target.id
        for node in ast.parse(source).body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    ]
    stub = [f"{name} = None  # TODO: replace None with your code" for name in names]
    check = " or ".join(f"{name} is None" for name in names) or "True"
    return "\n".join(
        [
            *comments,
            *stub,
            f"if {check}:",
            '    raise NotImplementedError("Fill in this cell: see the TODO above.")',
        ]
    )


def build_notebook(solution: Path, *, filled: bool = False) -> nbformat.NotebookNode:
    """Return the starter notebook; ``filled`` keeps the reference code (for tests)."""
    cells = []
    for index, cell in enumerate(parse_solution(solution.read_text(encoding="utf-8"))):
        cell_id = f"cell-{index:02d}"
        if cell.kind == "markdown":
            cells.append(nbformat.v4.new_markdown_cell(cell.source, id=cell_id))
            continue
        source = cell.source
        metadata = {}
        if cell.kind == "exercise":
            source = cell.source if filled else exercise_stub(cell.source)
            metadata = {"tags": [EXERCISE_TAG], "dojo": {"exercise": cell.exercise}}
        cells.append(nbformat.v4.new_code_cell(source, id=cell_id, metadata=metadata))
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata = {
        "kernelspec": {
            "display_name": "Python 3",
            "language": "python",
            "name": "python3",
        },
        "language_info": {"name": "python"},
    }
    return notebook


def render(notebook: nbformat.NotebookNode) -> str:
    """Return the notebook as the exact text written to disk."""
    return nbformat.writes(notebook) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, compare) every starter in the pack."""
    parser = argparse.ArgumentParser(prog="python -m assignments.build_starters")
    parser.add_argument("--check", action="store_true", help="fail if out of date")
    parser.add_argument("pack", nargs="?", type=Path, default=PACK_DIR)
    args = parser.parse_args(argv)
    stale = []
    for solution in sorted(args.pack.glob("*/solution.py")):
        starter = solution.with_name("starter.ipynb")
        text = render(build_notebook(solution))
        current = starter.read_text(encoding="utf-8") if starter.exists() else ""
        if text == current:
            continue
        stale.append(starter)
        if not args.check:
            starter.write_text(text, encoding="utf-8")
            print(f"wrote {starter}")
    if args.check and stale:
        print("out of date: " + ", ".join(map(str, stale)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
