"""Validate a grading spec (the "checks" and "score" sections of spec.json)."""

from __future__ import annotations

from typing import Any

from ._errors import SetupError

SCORE_DEFAULTS: dict[str, Any] = {
    "floor": "majority",
    "target": 0.9,
    "points": 100,
    "cap_on_failed_check": 50,
    "caps": {},
}
# What a model takes: images (float32 N x H x W x C) or tokens (int32 N x length,
# word ids); the input-shape check's message tells each what to start with.
INPUT_KINDS = ("images", "tokens")
BASE_DEFAULTS: dict[str, Any] = {"frozen_tolerance": 1e-6, "min_head_layers": 1}
# Ablation: shuffle a required layer's output on this many public images; it
# contributes when accuracy falls by half the model's gain over the floor (and
# by at least 5 points).
CONTRIBUTION_DEFAULTS: dict[str, Any] = {
    "layer_types": [],
    "base": False,
    "sample_size": 300,
    "min_drop": 0.05,
    "min_drop_fraction": 0.5,
}


def _contribution(value: Any) -> dict[str, Any]:
    if value is None:
        return dict(CONTRIBUTION_DEFAULTS)
    if not isinstance(value, dict) or set(value) - set(CONTRIBUTION_DEFAULTS):
        raise SetupError(
            'spec "checks.contribution" must be an object with keys '
            f"{sorted(CONTRIBUTION_DEFAULTS)}."
        )
    merged = {**CONTRIBUTION_DEFAULTS, **value}
    types = merged["layer_types"]
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        raise SetupError('spec "checks.contribution.layer_types" must list names.')
    if not isinstance(merged["sample_size"], int) or merged["sample_size"] < 10:
        raise SetupError('spec "checks.contribution.sample_size" must be >= 10.')
    for key in ("min_drop", "min_drop_fraction"):
        if not isinstance(merged[key], int | float) or not 0 <= merged[key] <= 1:
            raise SetupError(f'spec "checks.contribution.{key}" must be in [0, 1].')
    merged["base"] = bool(merged["base"])
    return merged


def validate_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """Return a normalised copy of ``spec``; raise ``SetupError`` saying what is wrong.

    Only the sections the grader reads are checked here; "dataset" belongs to
    ``assignments.datasets``.
    """
    if not isinstance(spec, dict):
        raise SetupError("The spec must be a JSON object.")
    checks = spec.get("checks", {})
    score = {**SCORE_DEFAULTS, **spec.get("score", {})}
    if not isinstance(checks, dict):
        raise SetupError('spec "checks" must be an object.')
    required = checks.get("required_layers", {})
    if not isinstance(required, dict) or not all(
        isinstance(name, str) and isinstance(count, int) and count >= 1
        for name, count in required.items()
    ):
        raise SetupError(
            'spec "checks.required_layers" must map a Keras layer class name to a '
            'minimum count >= 1, e.g. {"Conv2D": 1}.'
        )
    forbidden = checks.get("forbidden_layers", [])
    if not isinstance(forbidden, list) or not all(
        isinstance(name, str) for name in forbidden
    ):
        raise SetupError('spec "checks.forbidden_layers" must be a list of names.')
    # A required type may name alternatives: "LSTM|Conv1D" is either.
    if overlap := {n for name in required for n in name.split("|")} & set(forbidden):
        raise SetupError(f"Layers both required and forbidden: {sorted(overlap)}.")
    max_params = checks.get("max_params")
    if max_params is not None and (not isinstance(max_params, int) or max_params < 1):
        raise SetupError('spec "checks.max_params" must be a positive integer.')
    for key in ("input_shape",):
        value = checks.get(key)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(d, int) for d in value)
        ):
            raise SetupError(f'spec "checks.{key}" must be a list of integers.')
    input_kind = checks.get("input_kind", "images")
    if input_kind not in INPUT_KINDS:
        raise SetupError(
            f'spec "checks.input_kind" must be one of {", ".join(INPUT_KINDS)}.'
        )
    num_classes = checks.get("num_classes")
    if num_classes is not None and (
        not isinstance(num_classes, int) or num_classes < 2
    ):
        raise SetupError('spec "checks.num_classes" must be an integer >= 2.')
    base = checks.get("base")
    if base is not None:
        if not isinstance(base, dict):
            raise SetupError('spec "checks.base" must be an object.')
        base = {**BASE_DEFAULTS, **base}
    floor = score["floor"]
    if floor not in ("majority", "chance") and not isinstance(floor, int | float):
        raise SetupError('spec "score.floor" must be "majority", "chance" or a number.')
    target = score["target"]
    if not isinstance(target, int | float) or not 0 < target <= 1:
        raise SetupError('spec "score.target" must be an accuracy in (0, 1].')
    if isinstance(floor, int | float) and floor >= target:
        raise SetupError('spec "score.floor" must be below "score.target".')
    points = score["points"]
    if not isinstance(points, int | float) or points <= 0:
        raise SetupError('spec "score.points" must be positive.')
    cap = score["cap_on_failed_check"]
    if not isinstance(cap, int | float) or not 0 <= cap <= points:
        raise SetupError('spec "score.cap_on_failed_check" must be in [0, points].')
    return {
        "version": str(spec.get("version", "")),
        "checks": {
            "required_layers": dict(required),
            "forbidden_layers": list(forbidden),
            "max_params": max_params,
            "input_shape": checks.get("input_shape"),
            "input_kind": input_kind,
            "num_classes": num_classes,
            "base": base,
            "contribution": _contribution(checks.get("contribution")),
            "beats_chance": bool(checks.get("beats_chance", base is not None)),
        },
        "score": score,
    }
