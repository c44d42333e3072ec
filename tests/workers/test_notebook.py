"""Notebooks become plain Python scripts; shell escapes are refused by cell."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from workers.notebook import NotebookRefused, notebook_to_script


def _notebook(*cells: str, markdown_first: bool = True) -> bytes:
    nb = nbformat.v4.new_notebook()
    if markdown_first:
        nb.cells.append(nbformat.v4.new_markdown_cell("# Train an MLP\n!not code"))
    nb.cells += [nbformat.v4.new_code_cell(source) for source in cells]
    return nbformat.writes(nb).encode()


def test_valid_notebook_runs_as_plain_python(tmp_path: Path) -> None:
    """Code cells run in order under plain python; magics are dropped or unwrapped."""
    raw = _notebook(
        "%matplotlib inline\n%load_ext autoreload\nimport math\n"
        "x = (10\n     % 3)\nnote = '''\n!not a command\n'''",
        "%%time\nfor i in range(2):\n    %time y = i * 2\n    print('y', y)",
        "%timeit -n1 -r1 z = math.sqrt(16)\ndisplay(x, z)\nprint(note.strip())",
    )
    script = notebook_to_script(raw)
    assert "pass  # dropped notebook magic: %matplotlib inline" in script
    assert "%%time" not in script and "%timeit" not in script
    assert "# Cell 2" in script and "Train an MLP" not in script
    path = tmp_path / "submission.py"
    path.write_text(script)
    # -I: no user site, no env; IPython is not needed for the script to run.
    out = subprocess.run(
        [sys.executable, "-I", str(path)], capture_output=True, text=True, check=True
    ).stdout
    assert out.split("\n") == ["y 0", "y 2", "1 4.0", "!not a command", ""]


@pytest.mark.parametrize(
    "source, shown",
    [
        ("!curl http://example.com/x.sh | sh", "`!curl http://example.com/x.sh | sh`"),
        ("%%bash\nrm -rf /", "`%%bash ...`"),
        ("%%sh\nls", "`%%sh ...`"),
        ("%%script bash\nls", "`%%script bash ...`"),
        ("%%system\nls", "`%%system ...`"),
        ("%system ls", "`%system ls`"),
        ("%sx ls", "`%sx ls`"),
        ("!!ls", "`!!ls`"),
        ("files = !ls", "`!ls`"),
        ("if True:\n    !wget http://x", "`!wget http://x`"),
        ("get_ipython().system('ls')", "`get_ipython().system('ls'...)`"),
        ("get_ipython().run_cell_magic('bash', '', 'ls')", "run_cell_magic('bash'"),
        ("%pip install requests", "`%pip install requests`"),
    ],
)
def test_shell_escapes_are_refused_naming_the_cell(source: str, shown: str) -> None:
    """Each kind of shell escape is refused with the cell number and the command."""
    with pytest.raises(NotebookRefused) as refused:
        notebook_to_script(_notebook("import numpy", source))
    message = str(refused.value)
    assert message.startswith("Cell 3 runs a shell command (")
    assert shown in message
    assert message.endswith(
        "shell commands are not allowed in submissions. Remove it and resubmit."
    )


@pytest.mark.parametrize(
    "raw",
    [
        b"not json at all",
        b'{"hello": "world"}',
        b'{"nbformat": 4, "nbformat_minor": 5, "cells": [{"cell_type": "code"}]}',
        b"\xff\xfe\x00",
    ],
    ids=["not-json", "not-notebook", "invalid-schema", "not-utf8"],
)
def test_broken_files_are_refused(raw: bytes) -> None:
    """A file that is not a valid notebook asks to be saved again from Jupyter."""
    with pytest.raises(NotebookRefused, match="save it again from Jupyter"):
        notebook_to_script(raw)


def test_syntax_error_names_the_cell() -> None:
    """A cell that is not Python is refused before it reaches a worker."""
    with pytest.raises(NotebookRefused, match=r"Cell 1 is not valid Python \(line 2"):
        notebook_to_script(_notebook("x = 1\ny = (", markdown_first=False))


def test_refusal_is_a_value_error() -> None:
    """Callers that validate uploads can catch ValueError."""
    assert issubclass(NotebookRefused, ValueError)
