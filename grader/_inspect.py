"""Describe a loaded model: flattened layers, parameter counts, shapes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._errors import IncompatibleModelError
from ._report import LayerInfo


@dataclass(frozen=True)
class FlatLayer:
    """A leaf layer with its path inside nested models and its live object."""

    path: str
    layer: Any


@dataclass(frozen=True)
class ModelSummary:
    """What the checks need to know about a model."""

    layers: tuple[LayerInfo, ...]
    flat: tuple[FlatLayer, ...]
    params_total: int
    params_trainable: int
    input_shape: tuple[Any, ...]
    output_shape: tuple[Any, ...]


def flatten_layers(model: Any, prefix: str = "") -> list[FlatLayer]:
    """Return the leaf layers of ``model``, expanding nested models in order."""
    flat: list[FlatLayer] = []
    for layer in model.layers:
        path = f"{prefix}{layer.name}"
        if hasattr(layer, "layers") and layer.layers:
            flat.extend(flatten_layers(layer, prefix=f"{path}/"))
        else:
            flat.append(FlatLayer(path=path, layer=layer))
    return flat


def _count(weights: list[Any]) -> int:
    return int(sum(int(np.prod(w.shape)) for w in weights))


def _shape(value: Any) -> list[Any]:
    try:
        return list(value.shape)
    except AttributeError:
        return []


def summarize(model: Any) -> ModelSummary:
    """Return the flattened layers and the model's single input and output shape."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise IncompatibleModelError(
            f"Your model has {len(model.inputs)} inputs and {len(model.outputs)} "
            "outputs; the assignment needs exactly one image input and one output."
        )
    flat = flatten_layers(model)
    infos = []
    for item in flat:
        layer = item.layer
        if type(layer).__name__ == "InputLayer":
            continue
        try:
            output_shape = _shape(layer.output)
        except Exception:  # a layer reused in several graphs has no single output
            output_shape = []
        infos.append(
            LayerInfo(
                name=item.path,
                type=type(layer).__name__,
                output_shape=output_shape,
                params=_count(layer.weights),
                trainable=bool(layer.trainable),
            )
        )
    return ModelSummary(
        layers=tuple(infos),
        flat=tuple(flat),
        params_total=_count(model.weights),
        params_trainable=_count(model.trainable_weights),
        input_shape=tuple(model.inputs[0].shape),
        output_shape=tuple(model.outputs[0].shape),
    )
