"""A thread-safe tail buffer for a job's combined stdout and stderr."""

from __future__ import annotations

import re
import threading
from pathlib import Path

from ._text import neutralise

# TensorFlow's C++ startup notes (oneDNN, CPU features), printed before absl's
# logging is set up and so deaf to TF_CPP_MIN_LOG_LEVEL since TF 2.18: they
# opened every participant's log with lines about absl and compiler flags.
# Only C++ INFO lines ("I0000 00:00:... port.cc:153] ...") and their fixed
# companions go: TensorFlow's warnings and errors stay, and so does a
# participant's own absl-py logging (a .py file in its prefix).
_STARTUP_NOISE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are"
    r" written to STDERR"
    r"|I\d{4} \d\d:\d\d:[\d.]+ +\d+ \w+\.cc:\d+\] .*"
    r"|To enable the following instructions: .* rebuild TensorFlow with the"
    r" appropriate compiler flags\."
)


def _drop_startup_noise(text: str) -> str:
    """Remove TensorFlow's startup notes, judging only finished lines."""
    lines = text.split("\n")
    kept = [line for line in lines[:-1] if not _STARTUP_NOISE.fullmatch(line)]
    return "\n".join([*kept, lines[-1]])


# ECMA-48 escape sequences as a terminal would consume them: CSI (colours,
# bold, cursor moves: Keras's progress bar is full of them), OSC (titles,
# links) and two-character escapes. A lone or unfinished ESC is left for
# `neutralise`, which shows it.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"
    r"|\x1b[@-Z\\-_]"
)


def _as_terminal_line(line: str) -> str:
    """Return what a terminal shows for one line: ``\\r`` returns to its start
    and overwrites, ``\\b`` steps back one character."""
    if "\b" not in line:
        shown = ""
        for segment in line.split("\r"):
            shown = segment + shown[len(segment) :]
        return shown
    cells: list[str] = []
    column = 0
    for char in line:
        if char == "\r":
            column = 0
        elif char == "\b":
            column = max(column - 1, 0)
        else:
            if column < len(cells):
                cells[column] = char
            else:
                cells.append(char)
            column += 1
    return "".join(cells)


def as_terminal(text: str) -> str:
    """Render ``text`` as a terminal would: escape sequences consumed, lines
    redrawn with carriage returns (progress bars) kept in their final state,
    backspaces applied."""
    text = _ESCAPES.sub("", text)
    return "\n".join(
        _as_terminal_line(line) if "\r" in line or "\b" in line else line
        for line in text.split("\n")
    )


class LogBuffer:
    """Keep the last ``keep_bytes`` of output and count everything written."""

    def __init__(self, *, keep_bytes: int, home: Path | None = None) -> None:
        self._keep = max(keep_bytes, 1)
        # The job's own folder, bound at the same path inside the sandbox: its
        # paths are shown relative to it, not as the server's layout.
        self._home = f"{home}/" if home is not None else None
        self._buf = bytearray()
        self._lock = threading.Lock()
        self.total_bytes = 0
        self.version = 0

    def append(self, data: bytes) -> None:
        """Add a chunk of output."""
        with self._lock:
            self._buf += data
            self.total_bytes += len(data)
            self.version += 1
            # Trim lazily so a stream of small writes does not copy on every call.
            if len(self._buf) > 2 * self._keep:
                del self._buf[: len(self._buf) - self._keep]

    def render(self) -> tuple[str, bool]:
        """Return the kept log as text and whether earlier output was dropped."""
        with self._lock:
            tail = bytes(self._buf[-self._keep :])
            total = self.total_bytes
        if total > len(tail):
            # Start at a line boundary so the first line is not a fragment.
            newline = tail.find(b"\n")
            if 0 <= newline < len(tail) - 1:
                tail = tail[newline + 1 :]
        dropped = total - len(tail)
        text = as_terminal(tail.decode("utf-8", errors="replace"))
        text = _drop_startup_noise(text)
        if self._home:
            text = text.replace(self._home, "")
        # The log is shown on pages and stored in PostgreSQL (which refuses NUL).
        text = neutralise(text)
        if dropped:
            text = f"[... {dropped} bytes of earlier output dropped ...]\n" + text
        return text, dropped > 0
