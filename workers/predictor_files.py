"""The predictor's model files: copied in on demand, within a byte budget.

The predictor's folder is a sized tmpfs, so the files kept there are counted by
their bytes, not their number: two large models must not leave the next one
"No space left on device". No Django here.
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections import Counter, OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class ModelTooLarge(Exception):
    """The model file is larger than the whole budget; it can never be placed."""


class ModelsBusy(Exception):
    """Every file that could make room is needed by a request in flight."""


class ModelFiles:
    """Model files in one folder, least recently used removed first.

    A file a request in flight needs (``in_use``) is never removed; a ``.tmp``
    file is only ever a copy in progress, made one at a time, so one found
    before a copy is what a failed copy left and is removed.
    """

    def __init__(self, folder: Path, *, budget_bytes: int) -> None:
        self.folder = folder
        self.budget_bytes = budget_bytes
        self._sizes: OrderedDict[str, int] = OrderedDict()
        self._in_use: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._copying = threading.Lock()
        self._remove_partial_copies()

    @contextmanager
    def in_use(self, key: str) -> Iterator[None]:
        """Keep ``key``'s file in the folder while the block runs."""
        with self._lock:
            self._in_use[key] += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_use[key] -= 1
                if self._in_use[key] <= 0:
                    del self._in_use[key]

    def place(self, *, key: str, source: Path) -> None:
        """Copy ``source`` in as ``<key>.keras`` unless there; make room first.

        Raise ``ModelTooLarge`` for a file past the whole budget, ``ModelsBusy``
        when the room is held by requests in flight.
        """
        target = self.folder / f"{key}.keras"
        with self._copying:
            with self._lock:
                if key in self._sizes and target.is_file():
                    self._sizes.move_to_end(key)
                    return
            self._remove_partial_copies()
            size = source.stat().st_size
            if size > self.budget_bytes:
                raise ModelTooLarge(
                    f"The model file is {size / 2**20:.0f} MiB; models tried here "
                    f"may be at most {self.budget_bytes / 2**20:.0f} MiB. Save a "
                    "smaller model (fewer or narrower layers)."
                )
            self._make_room(size)
            tmp = self.folder / f".{key}.{uuid.uuid4().hex}.tmp"
            try:
                shutil.copyfile(source, tmp)
                os.chmod(tmp, 0o644)
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
            with self._lock:
                self._sizes[key] = target.stat().st_size

    def _make_room(self, size: int) -> None:
        with self._lock:
            held = sum(self._sizes.values())
            for old in list(self._sizes):
                if held + size <= self.budget_bytes:
                    break
                if self._in_use[old] > 0:
                    continue
                held -= self._sizes.pop(old)
                (self.folder / f"{old}.keras").unlink(missing_ok=True)
        if held + size > self.budget_bytes:
            raise ModelsBusy(
                "The predictor is busy with other models; try again in a few seconds."
            )

    def _remove_partial_copies(self) -> None:
        for partial in self.folder.glob(".*.tmp"):
            partial.unlink(missing_ok=True)
