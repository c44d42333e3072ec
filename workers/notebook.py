"""Turn a submitted Jupyter notebook into a plain Python script, refusing shell escapes.

IPython syntax cannot run under plain ``python``, and shell escapes (``!cmd``,
``%%bash``) are how a submission would reach for tools outside Python, so they
are refused with a sentence naming the cell. Display-only magics are dropped.
"""

from __future__ import annotations

import io
import re
import tokenize

import nbformat

__all__ = ["NotebookRefused", "notebook_to_script"]

# Magics that start another program: refused.
SHELL_MAGICS = frozenset(
    {"bash", "sh", "script", "system", "sx", "sc", "perl", "ruby", "python",
     "python2", "python3", "pypy", "pip", "conda", "mamba", "run"}
)  # fmt: skip
# Cell magics whose body is ordinary Python: keep the body.
BODY_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun"})
# Cell magics that only render output in the browser: drop the whole cell.
DISPLAY_CELL_MAGICS = frozenset(
    {"html", "javascript", "js", "latex", "markdown", "svg"}
)
# Line magics that prefix a statement: keep the statement.
PREFIX_LINE_MAGICS = frozenset({"time", "timeit", "prun", "capture"})

PRELUDE = '''\
# Converted from a Jupyter notebook by Dojo; each "# Cell N" is a notebook cell.
import os as _dojo_os

_dojo_os.environ.setdefault("MPLBACKEND", "Agg")
try:
    display
except NameError:

    def display(*objects, **kwargs):
        """Print what a notebook would have displayed."""
        print(*objects)

'''

_MAGIC_LINE = re.compile(
    r"^(?P<indent>\s*)(?:(?P<assign>[\w.,\s]+?)\s*=\s*)?(?P<body>[!%].*)$"
)
_IPYTHON_CALL = re.compile(
    r"get_ipython\(\)\s*\.\s*(?P<method>system|getoutput|run_cell_magic|run_line_magic)"
    r"\s*\(\s*(?P<arg>['\"][^'\"]*['\"])?"
)
_TIMEIT_OPTION = re.compile(r"^(?:-[nrp]\s*\d+|-[qoc]|-t)\s+")


class NotebookRefused(ValueError):
    """The notebook cannot be run; the message tells the participant what to change."""


def _shorten(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _refuse_shell(cell_number: int, command: str) -> NotebookRefused:
    return NotebookRefused(
        f"Cell {cell_number} runs a shell command (`{_shorten(command)}`); shell "
        "commands are not allowed in submissions. Remove it and resubmit."
    )


def _strip_timeit_options(statement: str) -> str:
    while match := _TIMEIT_OPTION.match(statement):
        statement = statement[match.end() :]
    return statement


def _convert_line(line: str, cell_number: int) -> str:
    """Return the plain-Python form of one line that starts with ``!`` or ``%``."""
    match = _MAGIC_LINE.match(line)
    assert match is not None
    indent, body = match["indent"], match["body"].rstrip()
    if body.startswith("!"):
        raise _refuse_shell(cell_number, body)
    name, _, rest = body.lstrip("%").partition(" ")
    if name in SHELL_MAGICS:
        raise _refuse_shell(cell_number, body)
    if match["assign"]:
        # "x = %who_ls" style captures need IPython to produce a value.
        raise NotebookRefused(
            f"Cell {cell_number} assigns the result of the magic `{_shorten(body)}`, "
            "which plain Python cannot run. Remove it and resubmit."
        )
    if name in PREFIX_LINE_MAGICS and rest.strip():
        return indent + _strip_timeit_options(rest.strip())
    # Configuration magics (%matplotlib inline, %load_ext, ...) mean nothing here.
    return f"{indent}pass  # dropped notebook magic: {_shorten(body, 60)}"


def _cell_to_python(source: str, cell_number: int) -> str:
    """Return a code cell's source as plain Python, or raise NotebookRefused."""
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        header = lines[0].strip()
        name = header[2:].split(" ", 1)[0]
        if name in SHELL_MAGICS or name == "system":
            raise _refuse_shell(cell_number, header + " ...")
        if name in DISPLAY_CELL_MAGICS:
            return ""
        if name not in BODY_CELL_MAGICS:
            raise NotebookRefused(
                f"Cell {cell_number} uses the cell magic `{header}`, which plain "
                "Python cannot run. Remove it and resubmit."
            )
        lines = lines[1:]
    starts = _statement_starts("\n".join(lines))
    out = []
    for number, line in enumerate(lines, start=1):
        if number in starts and _MAGIC_LINE.match(line):
            line = _convert_line(line, cell_number)
        out.append(line)
    code = "\n".join(out)
    for call in _IPYTHON_CALL.finditer(code):
        magic = (call["arg"] or "").strip("'\"")
        if call["method"] in ("system", "getoutput") or magic in SHELL_MAGICS:
            raise _refuse_shell(cell_number, call.group(0) + "...)")
    return code


def _statement_starts(source: str) -> set[int]:
    """Return the lines where a statement starts (outside strings and brackets).

    This keeps a ``%`` that continues an expression from being taken for a magic.
    """
    starts: set[int] = set()
    depth, at_start = 0, True
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.NEWLINE or (tok.type == tokenize.NL and not depth):
                at_start = True
            elif tok.type not in (tokenize.INDENT, tokenize.DEDENT, tokenize.NL):
                if at_start and tok.type != tokenize.COMMENT:
                    starts.add(tok.start[0])
                    at_start = False
                if tok.type == tokenize.OP and tok.string in "([{":
                    depth += 1
                elif tok.type == tokenize.OP and tok.string in ")]}":
                    depth = max(depth - 1, 0)
    except (tokenize.TokenError, SyntaxError):
        # An unterminated string: compile() reports it with the cell number.
        pass
    return starts


def notebook_to_script(raw: bytes) -> str:
    """Return the code cells of a notebook file as one plain Python script.

    Raise NotebookRefused when the file is not a valid notebook, a cell runs a
    shell command, or a cell is not valid Python once magics are removed.
    """
    try:
        text = raw.decode("utf-8-sig")
        notebook = nbformat.reads(text, as_version=4)
        nbformat.validate(notebook)
    except Exception as exc:  # nbformat raises many unrelated types for bad input
        raise NotebookRefused(
            "This file is not a valid Jupyter notebook (.ipynb): "
            f"{_shorten(str(exc), 120)}. Open it in Jupyter, save it again from "
            "Jupyter, and resubmit."
        ) from exc
    parts = [PRELUDE]
    for number, cell in enumerate(notebook.cells, start=1):
        if cell.cell_type != "code":
            continue
        code = _cell_to_python(cell.source, number)
        try:
            compile(code, f"<cell {number}>", "exec")
        except SyntaxError as exc:
            raise NotebookRefused(
                f"Cell {number} is not valid Python (line {exc.lineno}: {exc.msg}). "
                "Fix it and resubmit."
            ) from exc
        if code.strip():
            parts.append(f"# Cell {number}\n{code.rstrip()}\n\n")
    return "\n".join(parts).rstrip() + "\n"
