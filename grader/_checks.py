"""Spec checks on a model's structure; each message says what to fix."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from ._bounds import shorten
from ._inspect import ModelSummary
from ._report import CheckResult

INPUT_SHAPE = "input_shape"
OUTPUT_CLASSES = "output_classes"
# Checks whose failure means the model cannot be scored at all.
BLOCKING_CHECKS = (INPUT_SHAPE, OUTPUT_CLASSES)


def _shown(name: str) -> str:
    """Return a layer name short enough to quote in a message."""
    return shorten(name, limit=60)


def _fmt_shape(shape: Any) -> str:
    dims = ["None" if d is None else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def _input_hint(data_shape: tuple[int, ...], input_kind: str) -> str:
    """Return what a participant should start the model with."""
    if input_kind == "tokens":
        return (
            f"the definitions are sequences of {data_shape[0]} word ids: start the "
            f'model with keras.Input(shape=({data_shape[0]},), dtype="int32") '
            "followed by a keras.layers.Embedding (the ids are not images)."
        )
    return (
        f"the images are {_fmt_shape(data_shape)}: start the model with "
        "keras.Input(shape=x_train.shape[1:]) (add a Flatten layer before "
        "Dense layers)."
    )


def shape_checks(
    summary: ModelSummary,
    *,
    data_shape: tuple[int, ...],
    num_classes: int,
    input_kind: str = "images",
) -> list[CheckResult]:
    """Check that the model takes the data's inputs and outputs one unit per class."""
    model_in = summary.input_shape[1:]
    # An open dimension (None) is refused: the predictor and the page need the
    # input size the model takes, and a model for any size hides a wrong one.
    fits = len(model_in) == len(data_shape) and all(
        m == d for m, d in zip(model_in, data_shape, strict=True)
    )
    checks = [
        CheckResult(
            id=INPUT_SHAPE,
            passed=fits,
            message=(
                f"The model takes inputs of shape {_fmt_shape(data_shape)}."
                if fits
                else f"Your model expects inputs of shape {_fmt_shape(model_in)} but "
                + _input_hint(data_shape, input_kind)
            ),
        )
    ]
    out = summary.output_shape
    units_ok = len(out) == 2 and out[-1] == num_classes
    checks.append(
        CheckResult(
            id=OUTPUT_CLASSES,
            passed=units_ok,
            message=(
                f"The model outputs one score per class ({num_classes})."
                if units_ok
                else f"Your model's output has shape {_fmt_shape(out)}; it must be "
                f"(None, {num_classes}): end with Dense({num_classes}, "
                'activation="softmax").'
            ),
        )
    )
    return checks


def alternatives(layer_type: str) -> tuple[str, ...]:
    """Return the classes a required type names: "LSTM|Conv1D" is either."""
    return tuple(layer_type.split("|"))


def _spoken(layer_type: str) -> str:
    """Return "LSTM or Conv1D" for "LSTM|Conv1D"."""
    names = alternatives(layer_type)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" or {names[-1]}"


def _suggest(layer_type: str) -> str:
    return " or ".join(f"keras.layers.{name}" for name in alternatives(layer_type))


def layer_checks(
    summary: ModelSummary, *, checks_spec: dict[str, Any], title: str
) -> list[CheckResult]:
    """Check required and forbidden layer types and the parameter limit."""
    counts = Counter(info.type for info in summary.layers)
    results = []
    for layer_type, minimum in sorted(checks_spec["required_layers"].items()):
        have = sum(counts.get(name, 0) for name in alternatives(layer_type))
        ok = have >= minimum
        if ok:
            message = (
                f"Your model has {have} {_spoken(layer_type)} "
                f"layer{'s' if have > 1 else ''} (at least {minimum}, as required)."
            )
        else:
            plural = "s" if have > 1 else ""
            got = "no" if have == 0 else f"only {have}"
            message = (
                f"Your model has {got} {_spoken(layer_type)} layer{plural}; "
                f"{title} asks for at least {_n_layers(minimum)}. "
                f"Add {_suggest(layer_type)}."
            )
        results.append(
            CheckResult(id=f"required_layer:{layer_type}", passed=ok, message=message)
        )
    if checks_spec["forbidden_layers"]:
        results.append(
            _forbidden_check(
                counts, forbidden=checks_spec["forbidden_layers"], title=title
            )
        )
    max_params = checks_spec["max_params"]
    if max_params is not None:
        total = summary.params_total
        ok = total <= max_params
        results.append(
            CheckResult(
                id="max_params",
                passed=ok,
                message=(
                    f"{total:,} parameters (limit {max_params:,})."
                    if ok
                    else f"Your model has {total:,} parameters; the limit is "
                    f"{max_params:,}. Use fewer units or filters, or pooling before "
                    "the Dense layers."
                ),
            )
        )
    return results


def _n_layers(count: int) -> str:
    return f"{count} layer" if count == 1 else f"{count} layers"


def _forbidden_check(
    counts: Counter, *, forbidden: list[str], title: str
) -> CheckResult:
    """Check the spec's forbidden layer types as one rule, in one line."""
    names = sorted(forbidden)
    # A participant reads the rule ("no convolution layers"), not one line per
    # Keras class: the DL101 MLP forbids five convolution classes.
    family = (
        "convolution layers"
        if all("Conv" in name for name in names)
        else "layers of these types"
    )
    rule = f"{family} ({', '.join(names)})"
    found = [(name, counts[name]) for name in names if counts.get(name, 0)]
    if not found:
        message = f"No {rule}, as required."
    else:
        have = " and ".join(
            f"{count} {name} layer{'s' if count > 1 else ''}" for name, count in found
        )
        total = sum(count for _, count in found)
        message = (
            f"Your model has {have}; {title} does not allow {rule}. "
            f"Remove {'it' if total == 1 else 'them'}."
        )
    return CheckResult(id="forbidden_layers", passed=not found, message=message)


def base_checks(
    summary: ModelSummary,
    *,
    base_layers: list[tuple[str, str, list[np.ndarray]]],
    tolerance: float,
    min_head_layers: int,
) -> list[CheckResult]:
    """Check the published base is inside the model, unchanged, under a new head."""
    by_name = {item.path.rsplit("/", 1)[-1]: item.layer for item in summary.flat}
    missing: list[str] = []
    changed: list[str] = []
    matched: set[str] = set()
    for name, layer_type, weights in base_layers:
        layer = by_name.get(name)
        mine = [np.asarray(w) for w in layer.get_weights()] if layer is not None else []
        if (
            layer is None
            or type(layer).__name__ != layer_type
            or [w.shape for w in mine] != [w.shape for w in weights]
        ):
            missing.append(_shown(name))
            continue
        matched.add(name)
        diff = max(
            (float(np.max(np.abs(a - b))) for a, b in zip(mine, weights, strict=True)),
            default=0.0,
        )
        if not diff <= tolerance:
            changed.append(f"{_shown(name)} (max change {diff:.2g})")
    present = not missing
    results = [
        CheckResult(
            id="base_present",
            passed=present,
            message=(
                f"The published base's {len(base_layers)} weighted layers are present."
                if present
                else "The published base is not in your model (missing or changed "
                f"layers: {', '.join(missing[:5])}). Load base.keras from the data "
                "folder and build your model on top of it."
            ),
        )
    ]
    frozen = present and not changed
    if not present:
        frozen_message = (
            "Cannot check that the base was frozen: it is not in your model."
        )
    elif changed:
        frozen_message = (
            f"The base's weights changed during training: {', '.join(changed[:5])}. "
            "Set base.trainable = False before compiling."
        )
    else:
        frozen_message = "The base's weights are unchanged (frozen)."
    results.append(CheckResult(id="base_frozen", passed=frozen, message=frozen_message))
    head = [
        item
        for item in summary.flat
        if item.layer.weights and item.path.rsplit("/", 1)[-1] not in matched
    ]
    head_ok = len(head) >= min_head_layers
    results.append(
        CheckResult(
            id="head_present",
            passed=head_ok,
            message=(
                f"Your head has {_n_layers(len(head))} with weights."
                if head_ok
                else "Your model has no new trainable layers on top of the base; add "
                "a head (e.g. Dense layers) and train it."
            ),
        )
    )
    return results


# At most this many layers of one type are ablated: a model with dozens of
# unused convolutions costs a bounded number of extra forward passes.
MAX_ABLATIONS = 8


def contribution_checks(
    model: Any,
    summary: ModelSummary,
    *,
    contribution: dict[str, Any],
    required_layers: dict[str, int],
    base_layer_name: str | None,
    x: np.ndarray,
    y: np.ndarray,
    predicted: np.ndarray,
    floor: float,
    title: str,
    input_kind: str = "images",
) -> list[CheckResult]:
    """Check that each required layer feeds the prediction (ablation on ``x``).

    A layer contributes when shuffling its output across the sample's images
    takes away at least ``min_drop_fraction`` of what the model gains over
    ``floor`` (and at least ``min_drop`` of accuracy).
    """
    accuracy = float(np.mean(predicted == y))
    needed = max(
        float(contribution["min_drop"]),
        float(contribution["min_drop_fraction"]) * (accuracy - floor),
    )
    measure = _Measure(
        model=model, x=x, y=y, accuracy=accuracy, needed=needed, floor=floor
    )
    results = []
    for layer_type in contribution["layer_types"]:
        layers = [
            item.layer
            for item in summary.flat
            if type(item.layer).__name__ in alternatives(layer_type)
        ]
        results.append(
            _type_contribution(
                measure,
                layer_type=layer_type,
                layers=layers,
                minimum=int(required_layers.get(layer_type, 1)),
                title=title,
                noun="definitions" if input_kind == "tokens" else "images",
            )
        )
    if contribution["base"]:
        results.append(_base_contribution(measure, summary, base_layer_name))
    return results


class _Measure:
    """Ablate one layer at a time on the sample and say what happened."""

    def __init__(
        self,
        *,
        model: Any,
        x: np.ndarray,
        y: np.ndarray,
        accuracy: float,
        needed: float,
        floor: float = 0.0,
    ) -> None:
        self.model, self.x, self.y = model, x, y
        self.accuracy, self.needed, self.floor = accuracy, needed, floor

    def too_close_to_floor(self, what: str) -> str | None:
        """Say why nothing can be measured when the model barely beats the floor.

        Shuffling a layer's output takes a model at most down to the floor, so
        a model less than ``needed`` above it fails every ablation whatever its
        layers do: telling the participant that a layer "does not feed" the
        prediction would be false.
        """
        above = self.accuracy - self.floor
        if above >= self.needed:
            return None
        return (
            f"Cannot tell yet whether {what} feeds your prediction: your model is "
            f"only {_points(max(above, 0.0))} above chance on this sample, and "
            f"shuffling a layer must take away {_points(self.needed)}. Train it "
            "until it clearly beats chance (more epochs or data), then check again."
        )

    def ablate(self, layer: Any) -> tuple[bool | None, str]:
        """Return (contributes, what was measured); None when it cannot be measured."""
        from ._ablation import NotAblatableError, predict_ablated
        from ._errors import IncompatibleModelError

        try:
            labels = predict_ablated(self.model, self.x, target=layer)
        except NotAblatableError as exc:
            return None, (
                f"Cannot measure whether {_shown(layer.name)} feeds your "
                f"prediction: {exc} "
                "(a shared layer). Call each required layer once."
            )
        except IncompatibleModelError as exc:
            return None, str(exc)
        # The drop, not the sample's accuracy, is quoted: the sample is part of
        # the public split, so its accuracy would sit beside the report's
        # public accuracy as a second, different figure for the same model.
        drop = self.accuracy - float(np.mean(labels == self.y))
        if drop >= self.needed:
            return True, f"accuracy falls by {_points(drop)}"
        fell = f"falls by only {_points(drop)}" if drop > 0 else "does not fall"
        return False, f"accuracy {fell} (it must fall by {_points(self.needed)})"


def _points(fraction: float) -> str:
    return f"{100 * fraction:.1f} points"


def _type_contribution(
    measure: _Measure,
    *,
    layer_type: str,
    layers: list[Any],
    minimum: int,
    title: str,
    noun: str = "images",
) -> CheckResult:
    check_id = f"contribution:{layer_type}"
    if not layers:
        return CheckResult(
            id=check_id,
            passed=False,
            message=f"There is no {_spoken(layer_type)} layer to measure: add "
            f"{_suggest(layer_type)} and use its output in your prediction.",
        )
    unmeasurable = measure.too_close_to_floor(f"your {_spoken(layer_type)} layer")
    if unmeasurable:
        return CheckResult(id=check_id, passed=False, message=unmeasurable)
    used, unused = [], []
    for layer in layers[:MAX_ABLATIONS]:
        contributes, measured = measure.ablate(layer)
        used_or_not = used if contributes else unused
        used_or_not.append((_shown(layer.name), contributes, measured))
        if len(used) >= minimum:
            name, _, measured = used[0]
            return CheckResult(
                id=check_id,
                passed=True,
                message=f"With the output of {name} shuffled across {noun}, "
                f"{measured}: your {_spoken(layer_type)} layers feed your "
                "prediction.",
            )
    name, contributes, measured = unused[0]
    what = (
        measured
        if contributes is None
        else f"With the output of your {_spoken(layer_type)} layer {name} shuffled "
        f"across {noun}, {measured}: that {_spoken(layer_type)} does not feed your "
        "prediction."
    )
    return CheckResult(
        id=check_id,
        passed=False,
        message=f"{what} {title[0].upper()}{title[1:]} asks for "
        f"{_n_layers(minimum)} of type {_spoken(layer_type)} that your prediction "
        "depends "
        f"on; {len(used)} of yours {'does' if len(used) == 1 else 'do'}.",
    )


def _base_contribution(
    measure: _Measure, summary: ModelSummary, base_layer_name: str | None
) -> CheckResult:
    layer = next(
        (
            item.layer
            for item in summary.flat
            if item.path.rsplit("/", 1)[-1] == base_layer_name
        ),
        None,
    )
    if layer is None:
        return CheckResult(
            id="contribution:base",
            passed=False,
            message="Cannot measure what the base contributes: it is not in your "
            "model. Build your model on top of base.keras.",
        )
    unmeasurable = measure.too_close_to_floor("your base")
    if unmeasurable:
        return CheckResult(id="contribution:base", passed=False, message=unmeasurable)
    contributes, measured = measure.ablate(layer)
    if contributes is None:
        message = measured
    elif contributes:
        message = (
            f"With your base's output shuffled across images, {measured}: the base "
            "feeds your prediction."
        )
    else:
        message = (
            f"With your base's output shuffled across images, {measured}: the "
            "base does not feed your prediction. Put your head on the base's "
            "output (base(inputs)) and train only the head."
        )
    return CheckResult(
        id="contribution:base", passed=bool(contributes), message=message
    )
