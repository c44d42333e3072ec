"""Run a model with one layer's output replaced: does the prediction depend on it?

A layer counts as used only if the prediction changes when its output is taken
away. Here it is shuffled across the images of the sample (each image gets the
layer's output for another image), so everything downstream of that layer sees
plausible but unrelated values while every other path still sees the real
image. A layer whose output is multiplied by zero, added with zero weight or
concatenated and then ignored leaves the accuracy where it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._bounds import shorten
from ._errors import IncompatibleModelError
from ._inspect import flatten_layers

SHUFFLE_SEED = 0


class NotAblatableError(Exception):
    """The layer cannot be ablated on its own (it is called more than once)."""


@dataclass
class _Ablation:
    target: Any
    order: np.ndarray | None
    calls: int = 0
    seen: Any = None


def _contains(op: Any, target: Any) -> bool:
    if not getattr(op, "layers", None):
        return False
    return any(item.layer is target for item in flatten_layers(op))


def _graph(model: Any) -> Any:
    """Return the functional graph that runs ``model`` (a Sequential keeps one)."""
    functional = getattr(model, "_functional", None)
    return functional if functional is not None else model


def _run(model: Any, x: Any, ablation: _Ablation) -> Any:
    from keras import ops

    def operation_fn(op: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            if op is ablation.target:
                ablation.calls += 1
                out = ablation.seen = op(*args, **kwargs)
                if ablation.order is None:
                    return out
                return ops.take(out, ablation.order, axis=0)
            if _contains(op, ablation.target):
                if len(args) != 1 or kwargs.get("mask") is not None:
                    raise NotAblatableError(
                        f"{shorten(op.name, limit=60)} takes several inputs around "
                        "the layer"
                    )
                return _run(op, args[0], ablation)
            return op(*args, **kwargs)

        return call

    graph = _graph(model)
    if hasattr(graph, "_run_through_graph"):
        out = graph._run_through_graph([x], operation_fn=operation_fn)
        return out[0] if isinstance(out, list | tuple) and len(out) == 1 else out
    # A Sequential without a graph (no Input): its layers run one after another.
    for layer in model.layers:
        x = operation_fn(layer)(x)
    return x


def predict_ablated(model: Any, x: np.ndarray, *, target: Any) -> np.ndarray:
    """Return the predicted labels with ``target``'s output shuffled across ``x``.

    Raise ``NotAblatableError`` when the layer is called more than once (a shared
    layer: which call to shuffle is ambiguous) or never.
    """
    # One random cycle through the sample: no image keeps its own output.
    cycle = np.random.default_rng(SHUFFLE_SEED).permutation(len(x))
    order = np.empty_like(cycle)
    order[cycle] = np.roll(cycle, -1)
    ablation = _Ablation(target=target, order=order.astype("int32"))
    try:
        scores = _run(model, x, ablation)
        scores = np.asarray(scores.numpy() if hasattr(scores, "numpy") else scores)
    except NotAblatableError:
        raise
    except Exception as exc:  # the participant's model failed at call time
        raise IncompatibleModelError(
            "Your model failed while its "
            f"{shorten(target.name, limit=60)} layer was measured: "
            f"{type(exc).__name__}: {str(exc)[:300]}"
        ) from exc
    if ablation.calls != 1:
        raise NotAblatableError(
            f"{shorten(target.name, limit=60)} is called {ablation.calls} times "
            "in your model"
        )
    if scores.ndim != 2:
        raise IncompatibleModelError("Your model's output is not one row per image.")
    labels = np.argmax(scores, axis=1)
    labels[~np.all(np.isfinite(scores), axis=1)] = -1
    return labels


def layer_output(model: Any, x: np.ndarray, *, target: Any) -> np.ndarray:
    """Return ``target``'s output when the model runs on ``x`` (it is called once)."""
    ablation = _Ablation(target=target, order=None)
    _run(model, x, ablation)
    if ablation.calls != 1:
        raise NotAblatableError(
            f"{shorten(target.name, limit=60)} is called {ablation.calls} times "
            "in your model"
        )
    seen = ablation.seen
    return np.asarray(seen.numpy() if hasattr(seen, "numpy") else seen)
