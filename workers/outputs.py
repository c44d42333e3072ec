"""Read what a sandbox wrote without trusting it (no Django here).

Everything a job leaves behind is hostile: a symlink to a host file, a FIFO, a
file far larger than promised, JSON nested a hundred thousand levels deep,
NaN or Infinity (which PostgreSQL's jsonb refuses), NUL characters (which jsonb
refuses too). These functions bound, refuse or clean each of them, so that what
reaches the database is plain, finite and small.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from grader import CheckResult, GradeReport, LayerInfo
from workers import boundedjson

HISTORY_MAX_BYTES = 1024 * 1024
HISTORY_MAX_SERIES = 32
HISTORY_MAX_POINTS = 10_000
REPORTS_MAX_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 32
MAX_TEXT = 2_000
MAX_NAME = 200
MAX_LAYERS = 2_000
MAX_CHECKS = 200
MAX_MISCLASSIFIED = 16
MAX_MAP_IMAGES = 12
MAX_MAPS = 16
MAX_MAP_TEXT = 8_000  # base64 of one map of at most 64 x 64 bytes (5,464 chars)
# Specs give points per assignment (100 by default); nothing sensible is larger.
MAX_SCORE = 10_000.0


class UntrustedOutputError(ValueError):
    """A sandbox output is unusable; the message says why, in plain words."""


def read_bounded(path: Path, *, max_bytes: int) -> bytes:
    """Return a regular file's bytes, never following a link or reading past a cap."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise UntrustedOutputError(f"cannot open {path.name}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise UntrustedOutputError(f"{path.name} is not a regular file")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UntrustedOutputError(f"{path.name} is larger than {max_bytes} bytes")
    return data


def loads_bounded(data: bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse a sandbox's JSON: UTF-8, shallow, and free of NaN and Infinity."""
    try:
        return boundedjson.loads_bounded(data, max_depth=max_depth)
    except boundedjson.JSONRefused as exc:
        raise UntrustedOutputError(str(exc)) from None


def _finite(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UntrustedOutputError("holds a value that is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise UntrustedOutputError("holds a number that is not finite")
    return number


def history_parse(data: bytes) -> dict[str, list[float]]:
    """Return a training history: up to 32 named series of finite numbers."""
    if len(data) > HISTORY_MAX_BYTES:
        raise UntrustedOutputError(f"is larger than {HISTORY_MAX_BYTES} bytes")
    history = loads_bounded(data, max_depth=3)
    if not isinstance(history, dict):
        raise UntrustedOutputError("is not an object of named series")
    if len(history) > HISTORY_MAX_SERIES:
        raise UntrustedOutputError(f"has more than {HISTORY_MAX_SERIES} series")
    clean: dict[str, list[float]] = {}
    for name, values in history.items():
        if "\x00" in name or len(name) > MAX_NAME or not name.isprintable():
            raise UntrustedOutputError("has a series name that is not plain text")
        if not isinstance(values, list) or len(values) > HISTORY_MAX_POINTS:
            raise UntrustedOutputError(
                f"series “{name[:40]}” is not a list of at most "
                f"{HISTORY_MAX_POINTS} numbers"
            )
        clean[name] = [_finite(value) for value in values]
    return clean


def history_read(path: Path) -> dict[str, list[float]]:
    """Read and check the history.json a training job saved."""
    try:
        return history_parse(read_bounded(path, max_bytes=HISTORY_MAX_BYTES))
    except UntrustedOutputError as exc:
        raise UntrustedOutputError(f"history.json {exc}") from None


def clean_text(value: Any, *, limit: int = MAX_TEXT) -> str:
    """Return printable text: NULs and other control characters dropped, capped."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    kept = "".join(ch for ch in text[: limit * 2] if ch.isprintable() or ch in "\n\t")
    return kept[:limit]


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _clamp(value: float | None, *, high: float) -> float:
    return min(max(value or 0.0, 0.0), high)


def _count(value: Any) -> int:
    number = _number(value)
    return max(0, min(int(number), 2**62)) if number is not None else 0


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _shape(value: Any) -> list[Any]:
    if not isinstance(value, list):
        return []
    return [_count(v) if v is not None else None for v in value[:16]]


def _digits(value: Any) -> str:
    text = clean_text(value, limit=9)
    return text if text.isdigit() else ""


def report_parse(data: Mapping[str, Any]) -> GradeReport:
    """Rebuild a grader report from sandbox JSON, cleaning every field.

    Layer names come from the participant's model, so they are cleaned like
    any other text; numbers that are not finite become None (or 0 for counts).
    """
    if not isinstance(data, Mapping):
        raise UntrustedOutputError("a report is not an object")
    status = clean_text(data.get("status"), limit=16)
    if status not in ("graded", "failed", "error"):
        raise UntrustedOutputError(f"a report has an unknown status “{status}”")
    layers = data.get("layers") if isinstance(data.get("layers"), list) else []
    checks = data.get("checks") if isinstance(data.get("checks"), list) else []
    matrix = data.get("confusion_matrix")
    per_class = data.get("per_class_accuracy")
    max_score = _number(data.get("max_score")) or 100.0
    if not 0 < max_score <= MAX_SCORE:
        max_score = 100.0
    return GradeReport(
        status=status,
        reason=clean_text(data.get("reason")),
        public_accuracy=_number(data.get("public_accuracy")),
        private_accuracy=_number(data.get("private_accuracy")),
        per_class_accuracy=[
            _number(v) or 0.0
            for v in (per_class if isinstance(per_class, list) else [])[:1000]
        ],
        confusion_matrix=[
            [_count(cell) for cell in row[:1000]]
            for row in (matrix if isinstance(matrix, list) else [])[:1000]
            if isinstance(row, list)
        ],
        # Cleaned in full by the site (submissions.images); only bounded here.
        misclassified=[
            dict(item)
            for item in (_list(data.get("misclassified")))[:MAX_MISCLASSIFIED]
            if isinstance(item, Mapping)
        ],
        feature_maps=_feature_maps(data.get("feature_maps")),
        params_total=_count(data.get("params_total")),
        params_trainable=_count(data.get("params_trainable")),
        layers=tuple(
            LayerInfo(
                name=clean_text(layer.get("name"), limit=MAX_NAME),
                type=clean_text(layer.get("type"), limit=MAX_NAME),
                output_shape=_shape(layer.get("output_shape")),
                params=_count(layer.get("params")),
                trainable=bool(layer.get("trainable")),
            )
            for layer in layers[:MAX_LAYERS]
            if isinstance(layer, Mapping)
        ),
        checks=tuple(
            CheckResult(
                id=clean_text(check.get("id"), limit=MAX_NAME),
                passed=check.get("passed") is True,
                message=clean_text(check.get("message")),
            )
            for check in checks[:MAX_CHECKS]
            if isinstance(check, Mapping)
        ),
        score=_clamp(_number(data.get("score")), high=max_score),
        private_score=_clamp(_number(data.get("private_score")), high=max_score),
        max_score=max_score,
        grader_version=clean_text(data.get("grader_version"), limit=32),
        spec_version=_digits(data.get("spec_version")),
    )


def _texts(value: Any, limit: int) -> list[str]:
    return [
        v for v in _list(value)[:limit] if isinstance(v, str) and len(v) <= MAX_MAP_TEXT
    ]


def _feature_maps(value: Any) -> dict[str, Any]:
    """Bound the first convolution's maps; the site checks each one in full."""
    if not isinstance(value, Mapping) or not value:
        return {}
    images = [
        {
            "index": _count(item.get("index")),
            "label": _count(item.get("label")),
            "pixels": _texts([item.get("pixels")], 1)[:1],
            "maps": _texts(item.get("maps"), MAX_MAPS),
        }
        for item in _list(value.get("images"))[:MAX_MAP_IMAGES]
        if isinstance(item, Mapping)
    ]
    for image in images:
        image["pixels"] = image["pixels"][0] if image["pixels"] else ""
    return {
        "layer": clean_text(value.get("layer"), limit=MAX_NAME),
        "kernel_size": [_count(v) for v in _list(value.get("kernel_size"))[:2]],
        "size": [_count(v) for v in _list(value.get("size"))[:2]],
        "filters": _texts(value.get("filters"), MAX_MAPS),
        "images": images,
    }


def reports_read(path: Path) -> dict[str, Mapping[str, Any]]:
    """Read the grader's reports.json: a list of reports keyed by their `id`."""
    loaded = loads_bounded(read_bounded(path, max_bytes=REPORTS_MAX_BYTES))
    items = loaded if isinstance(loaded, list) else [loaded]
    reports: dict[str, Mapping[str, Any]] = {}
    for item in items:
        if isinstance(item, dict) and "id" in item:
            reports[clean_text(item["id"], limit=64)] = item
    return reports
