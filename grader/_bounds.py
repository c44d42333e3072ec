"""Keep every report small, whatever the participant's model is named or holds.

Layer names are the participant's: a nested model whose layers carry 30,000
characters each gives paths of hundreds of thousands, and a report listing
them runs to megabytes. What a model makes the grader write is bounded here,
where it is written, so a report is always small enough for the site to read.
"""

from __future__ import annotations

import json
from dataclasses import replace

from ._report import STATUS_FAILED, CheckResult, GradeReport, LayerInfo

# One report's JSON; the site reads each of a chunk's reports under this bound.
REPORT_MAX_BYTES = 1024 * 1024
# One report as the CLI writes it to a file: its JSON and the caller's id.
REPORT_FILE_MAX_BYTES = REPORT_MAX_BYTES + 4096
MAX_NAME = 200
MAX_TEXT = 2_000
MAX_LAYERS = 1_000
MAX_CHECKS = 200
ELLIPSIS = "…"


def shorten(text: str, *, limit: int) -> str:
    """Return ``text`` cut to ``limit`` characters, marked where it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def report_json(payload: object) -> str:
    """Return a report (or a list of them) as the CLI writes it."""
    return json.dumps(payload, indent=2, sort_keys=True)


def report_size(report: GradeReport) -> int:
    """Return the size of the report's JSON in bytes, as the CLI writes it."""
    return len(report_json(report.to_dict()).encode("utf-8"))


def report_bounded(report: GradeReport) -> GradeReport:
    """Return ``report`` with every text and list capped, at most REPORT_MAX_BYTES.

    Names and messages are cut, at most MAX_LAYERS layers are listed (the
    checks counted them all). A report still too large loses its pictures; one
    larger even then fails the model, with a reason, rather than reach the site.
    """
    bounded = replace(
        report,
        reason=shorten(report.reason, limit=MAX_TEXT),
        layers=tuple(
            LayerInfo(
                name=shorten(layer.name, limit=MAX_NAME),
                type=shorten(layer.type, limit=MAX_NAME),
                output_shape=list(layer.output_shape[:16]),
                params=layer.params,
                trainable=layer.trainable,
            )
            for layer in report.layers[:MAX_LAYERS]
        ),
        checks=tuple(
            CheckResult(
                id=shorten(check.id, limit=MAX_NAME),
                passed=check.passed,
                message=shorten(check.message, limit=MAX_TEXT),
            )
            for check in report.checks[:MAX_CHECKS]
        ),
        feature_maps=_maps_bounded(report.feature_maps),
    )
    if report_size(bounded) <= REPORT_MAX_BYTES:
        return bounded
    bounded = replace(bounded, feature_maps={}, misclassified=[])
    if report_size(bounded) <= REPORT_MAX_BYTES:
        return bounded
    return GradeReport(
        status=STATUS_FAILED,
        reason=(
            f"Your model's report is larger than {REPORT_MAX_BYTES // 1024} KiB "
            f"({len(report.layers):,} layers). Build it from fewer layers with "
            "short names and save it again."
        ),
        params_total=report.params_total,
        params_trainable=report.params_trainable,
        max_score=report.max_score,
        spec_version=report.spec_version,
    )


def _maps_bounded(maps: dict) -> dict:
    if not maps or not isinstance(maps.get("layer"), str):
        return maps
    return {**maps, "layer": shorten(maps["layer"], limit=MAX_NAME)}
