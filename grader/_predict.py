"""Run a model over the hidden images as fast as the hardware allows.

Two costs are not inference and are removed here. Eager execution runs every op
on its own (a Conv2D, then a separate pass for the bias, another for the ReLU);
a compiled function lets TensorFlow fuse them, and is built once per model
object, so a regrade that reuses an architecture (``ModelCache``) compiles it
once for all the models that share it. And a batch whose activations overflow
the CPU's cache spends its time waiting on memory, so the batch size follows
the model's widest layer.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from ._errors import IncompatibleModelError

# Activations of one batch should fit in the last-level cache (per core share).
CACHE_BUDGET_BYTES = 16 * 1024 * 1024
MIN_CHUNK, MAX_CHUNK = 32, 1024

# One compiled function per live model: the function holds the model's
# variables, so after ``ModelCache`` swaps the weights it runs the new ones.
_COMPILED: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def chunk_size(widest_activation: int) -> int:
    """Return a power-of-two batch whose widest activation fits the budget."""
    per_image = max(int(widest_activation), 1) * 4
    chunk = MAX_CHUNK
    while chunk > MIN_CHUNK and chunk * per_image > CACHE_BUDGET_BYTES:
        chunk //= 2
    return chunk


def widest_activation(output_shapes: list[list[Any]]) -> int:
    """Return the most values one image produces in any layer's output."""
    widest = 1
    for shape in output_shapes:
        dims = [d for d in shape[1:] if isinstance(d, int)]
        if dims:
            widest = max(widest, int(np.prod(dims)))
    return widest


def _forward(model: Any, sample_shape: tuple[int, ...]) -> Any:
    """Return a callable batch -> scores: compiled on TensorFlow, else eager."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return lambda batch: model(batch, training=False)
    entry = _COMPILED.get(model)
    if entry is None or entry[0] != sample_shape:
        import tensorflow as tf

        signature = [tf.TensorSpec((None, *sample_shape), tf.float32)]
        # A weak reference: the function must not keep its model (the key) alive.
        owner = weakref.ref(model)
        fn = tf.function(
            lambda batch: owner()(batch, training=False),
            input_signature=signature,
            reduce_retracing=True,
        )
        entry = (sample_shape, fn)
        _COMPILED[model] = entry
    return entry[1]


def predict_labels(
    model: Any, x: np.ndarray, *, num_classes: int, chunk: int = MAX_CHUNK
) -> np.ndarray:
    """Return the predicted class per row; -1 for rows with non-finite scores."""
    outputs = []
    try:
        forward = _forward(model, tuple(int(d) for d in x.shape[1:]))
        for start in range(0, len(x), chunk):
            scores = forward(x[start : start + chunk])
            # .numpy() avoids numpy's deprecated __array__(copy=...) path on TF.
            outputs.append(
                np.asarray(scores.numpy() if hasattr(scores, "numpy") else scores)
            )
    except Exception as exc:  # the participant's model failed at call time
        raise IncompatibleModelError(
            f"Your model crashed when called on the test images: "
            f"{type(exc).__name__}: {_first_line(str(exc))}"
        ) from exc
    scores = np.concatenate(outputs) if outputs else np.zeros((0, num_classes))
    if scores.shape != (len(x), num_classes):
        raise IncompatibleModelError(
            f"Your model returned scores of shape {scores.shape}; expected "
            f"({len(x)}, {num_classes})."
        )
    labels = np.argmax(scores, axis=1)
    labels[~np.all(np.isfinite(scores), axis=1)] = -1
    return labels


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0][:300] if lines else ""
