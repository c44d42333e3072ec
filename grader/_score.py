"""Turn accuracy and check outcomes into points."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._errors import SetupError
from ._report import CheckResult


def resolve_floor(
    score_spec: dict[str, Any], *, majority: float, num_classes: int
) -> float:
    """Return the accuracy worth zero points."""
    floor = score_spec["floor"]
    if floor == "majority":
        return majority
    if floor == "chance":
        return 1.0 / num_classes
    return float(floor)


def points_for(accuracy: float, *, floor: float, score_spec: dict[str, Any]) -> float:
    """Map accuracy linearly from floor (0 points) to target (full points)."""
    target = float(score_spec["target"])
    if target <= floor:
        raise SetupError(
            f"score.target ({target}) must exceed the floor ({floor:.3f}) on this data."
        )
    fraction = min(max((accuracy - floor) / (target - floor), 0.0), 1.0)
    return float(score_spec["points"]) * fraction


def cap_for(checks: Sequence[CheckResult], *, score_spec: dict[str, Any]) -> float:
    """Return the highest score allowed given the failed checks."""
    caps = score_spec.get("caps", {})
    cap = float(score_spec["points"])
    for check in checks:
        if not check.passed:
            kind = check.id.split(":", 1)[0]
            default = score_spec["cap_on_failed_check"]
            cap = min(cap, float(caps.get(check.id, caps.get(kind, default))))
    return cap


def final_score(
    accuracy: float, *, floor: float, cap: float, score_spec: dict[str, Any]
) -> float:
    """Return the capped score, rounded to two decimals."""
    return round(min(points_for(accuracy, floor=floor, score_spec=score_spec), cap), 2)
