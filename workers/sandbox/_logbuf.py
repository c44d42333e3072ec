"""A thread-safe tail buffer for a job's combined stdout and stderr."""

from __future__ import annotations

import re
import threading

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


def _collapse_carriage_returns(text: str) -> str:
    """Keep only the last state of lines redrawn with ``\\r`` (progress bars)."""
    lines = []
    for line in text.split("\n"):
        if "\r" in line:
            parts = [p for p in line.split("\r") if p]
            line = parts[-1] if parts else ""
        lines.append(line)
    return "\n".join(lines)


class LogBuffer:
    """Keep the last ``keep_bytes`` of output and count everything written."""

    def __init__(self, *, keep_bytes: int) -> None:
        self._keep = max(keep_bytes, 1)
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
        text = _collapse_carriage_returns(tail.decode("utf-8", errors="replace"))
        text = _drop_startup_noise(text)
        # The log is shown on pages and stored in PostgreSQL (which refuses NUL).
        text = neutralise(text)
        if dropped:
            text = f"[... {dropped} bytes of earlier output dropped ...]\n" + text
        return text, dropped > 0
