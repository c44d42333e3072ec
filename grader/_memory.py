"""What one prediction request costs in memory, before and after it runs.

The predictor serves every participant from one process, so a model that needs
gigabytes for one image must be refused, not allowed to get the whole process
killed for memory. Two measures, because neither alone is enough:

- before the call, an estimate from the layers' output shapes (float32, a
  layer's input and output held at once) refuses the plainly greedy model
  without running it;
- after the call, the process's peak resident memory during the request (Linux
  resets the peak on request) catches what output shapes do not show, such as
  an attention layer's score matrix.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ._inspect import flatten_layers
from ._predict import widest_activation

BYTES_PER_VALUE = 4  # float32
STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


def activation_bytes(model: Any) -> int:
    """Estimate the memory one image's forward pass needs for activations."""
    shapes: list[list[Any]] = [list(model.inputs[0].shape)]
    for item in flatten_layers(model):
        try:
            shapes.append(list(item.layer.output.shape))
        except Exception:  # noqa: BLE001 - a reused layer has no single output
            continue
    return 2 * BYTES_PER_VALUE * widest_activation(shapes)


def mib(size: int) -> str:
    """Return ``size`` bytes as whole MiB, at least 1."""
    return f"{max(1, round(size / 2**20))} MiB"


class PeakMemory:
    """Measure how far one request raised this process's resident memory."""

    def __init__(self) -> None:
        self._start: int | None = None

    def reset(self) -> None:
        """Start a request: make the peak the current resident size."""
        try:
            CLEAR_REFS.write_text("5")
            self._start = _status_bytes("VmRSS")
        except (OSError, ValueError):  # no /proc or no reset: measure nothing
            self._start = None

    def rise(self) -> int | None:
        """Return the peak's rise since ``reset`` in bytes; None if unmeasured."""
        if self._start is None:
            return None
        try:
            return max(0, _status_bytes("VmHWM") - self._start)
        except (OSError, ValueError):
            return None


def _status_bytes(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", STATUS.read_text(), re.MULTILINE)
    if match is None:
        raise ValueError(f"no {field} in {STATUS}")
    return int(match.group(1)) * 1024
