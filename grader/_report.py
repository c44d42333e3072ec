"""Result types: frozen dataclasses that round-trip through JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

GRADER_VERSION = "1.1.0"

STATUS_GRADED = "graded"
STATUS_FAILED = "failed"
# Only batch mode produces "error": the grader itself crashed on one item, which is
# the platform's fault, so the site can retry instead of blaming the participant.
STATUS_ERROR = "error"


@dataclass(frozen=True)
class LayerInfo:
    """One layer of the flattened model (nested models expanded)."""

    name: str
    type: str
    output_shape: list[Any]
    params: int
    trainable: bool


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one spec check, with a message that says what to fix."""

    id: str
    passed: bool
    message: str


@dataclass(frozen=True)
class GradeReport:
    """Everything one grading produced; ``to_dict()`` is what the site stores."""

    status: str
    reason: str = ""
    public_accuracy: float | None = None
    private_accuracy: float | None = None
    per_class_accuracy: list[float] = field(default_factory=list)
    confusion_matrix: list[list[int]] = field(default_factory=list)
    # Up to 16 wrongly predicted public-split images (never private ones).
    misclassified: list[dict[str, Any]] = field(default_factory=list)
    # The first convolution's filters and its maps for a few public images.
    feature_maps: dict[str, Any] = field(default_factory=dict)
    params_total: int = 0
    params_trainable: int = 0
    layers: tuple[LayerInfo, ...] = ()
    checks: tuple[CheckResult, ...] = ()
    score: float = 0.0
    private_score: float = 0.0
    max_score: float = 100.0
    grader_version: str = GRADER_VERSION
    spec_version: str = ""

    @property
    def passed_checks(self) -> bool:
        """Return whether every check passed."""
        return all(check.passed for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (lists, not tuples)."""
        data = asdict(self)
        data["layers"] = [asdict(layer) for layer in self.layers]
        data["checks"] = [asdict(check) for check in self.checks]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GradeReport:
        """Rebuild a report from ``to_dict()`` output; unknown keys are ignored."""
        known = {name for name in cls.__dataclass_fields__}
        values = {key: value for key, value in data.items() if key in known}
        values["layers"] = tuple(LayerInfo(**item) for item in data.get("layers", ()))
        values["checks"] = tuple(CheckResult(**item) for item in data.get("checks", ()))
        return cls(**values)


def failed_report(
    *,
    reason: str,
    spec_version: str,
    max_score: float,
    checks: tuple[CheckResult, ...] = (),
    layers: tuple[LayerInfo, ...] = (),
    params_total: int = 0,
    params_trainable: int = 0,
    status: str = STATUS_FAILED,
) -> GradeReport:
    """Return a report for a model that could not be scored."""
    return GradeReport(
        status=status,
        reason=reason,
        layers=layers,
        checks=checks,
        params_total=params_total,
        params_trainable=params_trainable,
        max_score=max_score,
        spec_version=spec_version,
    )
