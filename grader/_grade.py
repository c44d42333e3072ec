"""Grade one model: load safely, check the structure, measure, score."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ._bounds import report_bounded
from ._checks import (
    BLOCKING_CHECKS,
    base_checks,
    contribution_checks,
    layer_checks,
    shape_checks,
)
from ._errors import (
    IncompatibleModelError,
    InvalidModelFileError,
    SetupError,
    UnsafeModelError,
)
from ._inspect import flatten_layers, summarize
from ._load import MODEL_CACHE_BYTES, ModelCache, load_model
from ._maps import feature_maps
from ._metrics import (
    TestSplit,
    accuracy,
    confusion,
    load_test_split,
    majority_rate,
    misclassified,
    per_class_accuracy,
)
from ._predict import chunk_size, predict_labels, widest_activation
from ._report import STATUS_GRADED, CheckResult, GradeReport, failed_report
from ._score import cap_for, final_score, resolve_floor
from ._spec import validate_spec

BaseLayers = list[tuple[str, str, list[np.ndarray]]]


class GradingCache:
    """Keep test splits and published bases loaded across models (batch mode)."""

    def __init__(
        self, *, reuse_models: bool = False, model_bytes: int = MODEL_CACHE_BYTES
    ) -> None:
        self.models = ModelCache(max_bytes=model_bytes) if reuse_models else None
        self._splits: dict[tuple[str, float], TestSplit] = {}
        self._bases: dict[tuple[str, float], BaseLayers] = {}

    def without_models(self) -> GradingCache:
        """Return these caches with no model cache (for a model graded alone)."""
        alone = GradingCache()
        alone._splits, alone._bases = self._splits, self._bases
        return alone

    def test_split(self, path: Path) -> TestSplit:
        """Return the split at ``path``, reading it once per file version."""
        key = _file_key(path)
        if key not in self._splits:
            self._splits[key] = load_test_split(path)
        return self._splits[key]

    def base_layers(self, path: Path) -> BaseLayers:
        """Return (name, type, weights) for each weighted layer of the base."""
        key = _file_key(path)
        if key not in self._bases:
            try:
                base = load_model(path)
            except (
                UnsafeModelError,
                InvalidModelFileError,
                IncompatibleModelError,
            ) as exc:
                raise SetupError(
                    f"The published base {path} is unusable: {exc}"
                ) from exc
            self._bases[key] = [
                (
                    item.path.rsplit("/", 1)[-1],
                    type(item.layer).__name__,
                    [np.array(w) for w in item.layer.get_weights()],
                )
                for item in flatten_layers(base)
                if item.layer.weights
            ]
        return self._bases[key]


def _file_key(path: Path) -> tuple[str, float]:
    try:
        return (str(path.resolve()), path.stat().st_mtime)
    except OSError as exc:
        raise SetupError(f"Missing grading file {path}.") from exc


def grade(
    model_path: Path,
    spec: dict[str, Any],
    test_split: Path,
    *,
    base_model_path: Path | None = None,
    cache: GradingCache | None = None,
) -> GradeReport:
    """Grade the model at ``model_path`` against ``spec`` on the hidden ``test_split``.

    A participant's fault (unsafe, unreadable or incompatible model) gives a
    ``failed`` report with a reason; a setup fault raises ``SetupError``. The
    report is bounded (``report_bounded``): names and lists the model chose are
    cut, so it stays small whatever the model holds.
    """
    return report_bounded(
        _grade(model_path, spec, test_split, base_model_path, cache or GradingCache())
    )


def _grade(
    model_path: Path,
    spec: dict[str, Any],
    test_split: Path,
    base_model_path: Path | None,
    cache: GradingCache,
) -> GradeReport:
    normal = validate_spec(spec)
    split = cache.test_split(Path(test_split))
    checks_spec, score_spec = normal["checks"], normal["score"]
    num_classes = checks_spec["num_classes"] or split.num_classes
    data_shape = split.image_shape
    if checks_spec["input_shape"] and tuple(checks_spec["input_shape"]) != data_shape:
        raise SetupError(
            f"spec input_shape {checks_spec['input_shape']} does not match the test "
            f"images {list(data_shape)}."
        )
    base_layers = None
    if checks_spec["base"] is not None:
        if base_model_path is None:
            raise SetupError("This spec checks a published base: pass base_model_path.")
        base_layers = cache.base_layers(Path(base_model_path))
    common = {
        "spec_version": normal["version"],
        "max_score": float(score_spec["points"]),
    }
    try:
        model = load_model(Path(model_path), cache=cache.models)
        summary = summarize(model)
    except (UnsafeModelError, InvalidModelFileError, IncompatibleModelError) as exc:
        return failed_report(reason=str(exc), **common)
    structure = {
        "layers": summary.layers,
        "params_total": summary.params_total,
        "params_trainable": summary.params_trainable,
    }
    checks = shape_checks(
        summary,
        data_shape=data_shape,
        num_classes=num_classes,
        input_kind=checks_spec["input_kind"],
    )
    title = str(spec.get("title") or "this assignment")
    checks += layer_checks(summary, checks_spec=checks_spec, title=title)
    if base_layers is not None:
        checks += base_checks(
            summary,
            base_layers=base_layers,
            tolerance=float(checks_spec["base"]["frozen_tolerance"]),
            min_head_layers=int(checks_spec["base"]["min_head_layers"]),
        )
    blocking = [c for c in checks if c.id in BLOCKING_CHECKS and not c.passed]
    if blocking:
        return failed_report(
            reason=" ".join(c.message for c in blocking),
            checks=tuple(checks),
            **structure,
            **common,
        )
    try:
        # One forward pass over both splits: each call has a fixed overhead.
        chunk = chunk_size(widest_activation([x.output_shape for x in summary.layers]))
        both = predict_labels(model, split.x_all, num_classes=num_classes, chunk=chunk)
        public, private = both[: len(split.y_public)], both[len(split.y_public) :]
    except IncompatibleModelError as exc:
        return failed_report(
            reason=str(exc), checks=tuple(checks), **structure, **common
        )
    public_acc = accuracy(split.y_public, public)
    private_acc = accuracy(split.y_private, private)
    floors = [
        resolve_floor(score_spec, majority=majority_rate(y), num_classes=num_classes)
        for y in (split.y_public, split.y_private)
    ]
    if checks_spec["beats_chance"]:
        checks.append(_beats_chance(public_acc, floor=floors[0]))
    contribution = checks_spec["contribution"]
    if contribution["layer_types"] or contribution["base"]:
        # Public images only: the sample's figures appear in the messages.
        size = contribution["sample_size"]
        checks += contribution_checks(
            model,
            summary,
            contribution=contribution,
            required_layers=checks_spec["required_layers"],
            base_layer_name=base_layers[0][0] if base_layers else None,
            x=split.x_public[:size],
            y=split.y_public[:size],
            predicted=public[:size],
            floor=floors[0],
            title=title,
            input_kind=checks_spec["input_kind"],
        )
    cap = cap_for(checks, score_spec=score_spec)
    # Per-class figures come from the public split only: private results must not
    # leak to participants beyond one number.
    matrix = confusion(split.y_public, public, num_classes=num_classes)
    return GradeReport(
        status=STATUS_GRADED,
        public_accuracy=round(public_acc, 6),
        private_accuracy=round(private_acc, 6),
        per_class_accuracy=per_class_accuracy(matrix),
        confusion_matrix=matrix.tolist(),
        misclassified=misclassified(split.x_public, split.y_public, public),
        feature_maps=feature_maps(
            model, summary, x_public=split.x_public, y_public=split.y_public
        ),
        checks=tuple(checks),
        score=final_score(public_acc, floor=floors[0], cap=cap, score_spec=score_spec),
        private_score=final_score(
            private_acc, floor=floors[1], cap=cap, score_spec=score_spec
        ),
        **structure,
        **common,
    )


def _beats_chance(public_acc: float, *, floor: float) -> CheckResult:
    ok = public_acc > floor + 0.1
    return CheckResult(
        id="beats_chance",
        passed=ok,
        message=(
            f"Accuracy {public_acc:.1%} is well above chance ({floor:.1%})."
            if ok
            else f"Accuracy {public_acc:.1%} is no better than guessing ({floor:.1%}): "
            "was the head trained? Call model.fit on the training data."
        ),
    )
