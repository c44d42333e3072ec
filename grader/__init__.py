"""Grade Keras models for Dojo workshops: load safely, check, measure, score.

Importing this package does not import Keras; ``grade`` and ``grade_batch`` do,
on first use, so the site can read reports without starting TensorFlow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._bounds import REPORT_FILE_MAX_BYTES, REPORT_MAX_BYTES
from ._errors import (
    GraderError,
    IncompatibleModelError,
    InvalidModelFileError,
    SetupError,
    UnsafeModelError,
)
from ._load import MODEL_CACHE_BYTES, inspect_archive
from ._report import GRADER_VERSION, CheckResult, GradeReport, LayerInfo
from ._spec import validate_spec

if TYPE_CHECKING:
    from ._batch import BatchItem, grade_batch
    from ._grade import grade

__all__ = [
    "GRADER_VERSION",
    "MODEL_CACHE_BYTES",
    "REPORT_FILE_MAX_BYTES",
    "REPORT_MAX_BYTES",
    "BatchItem",
    "CheckResult",
    "GradeReport",
    "GraderError",
    "IncompatibleModelError",
    "InvalidModelFileError",
    "LayerInfo",
    "SetupError",
    "UnsafeModelError",
    "grade",
    "grade_batch",
    "inspect_archive",
    "validate_spec",
]

_LAZY = {"BatchItem": "_batch", "grade_batch": "_batch", "grade": "_grade"}


def __getattr__(name: str) -> Any:
    """Import the numpy/Keras-backed parts on first use."""
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
