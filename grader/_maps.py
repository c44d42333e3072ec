"""What the model sees: its first convolution's filters and feature maps.

Computed in the evaluation sandbox for the first public test image of each
class (never private ones), and by the warm predictor for any other public
image a participant picks, as bytes the site checks and re-encodes (like the
misclassified gallery).
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from ._inspect import ModelSummary

MAP_IMAGES = 10
MAPS_PER_IMAGE = 8
MAX_FILTERS = 16
MAX_SIDE = 64


def _bytes(array: np.ndarray) -> str:
    """Scale to 0-255 over the array's own range; return base64 of the bytes."""
    lo, hi = float(np.min(array)), float(np.max(array))
    scaled = (array - lo) / (hi - lo) if hi > lo else np.zeros_like(array)
    raw = np.round(scaled * 255).astype("uint8").tobytes()
    return base64.b64encode(raw).decode("ascii")


def first_conv(summary: ModelSummary) -> Any:
    """Return the model's first Conv2D (a flattened layer entry), or None."""
    return next(
        (item for item in summary.flat if type(item.layer).__name__ == "Conv2D"), None
    )


def conv_maps(model: Any, conv: Any, x: np.ndarray) -> np.ndarray | None:
    """Return ``conv``'s outputs (N, H, W, F) on ``x``, or None if not drawable."""
    from ._ablation import NotAblatableError, layer_output

    try:
        maps = layer_output(model, x, target=conv.layer)
    except (NotAblatableError, IndexError, ValueError, TypeError):
        return None
    if maps.ndim != 4 or not np.all(np.isfinite(maps)):
        return None
    if not (0 < maps.shape[1] <= MAX_SIDE and 0 < maps.shape[2] <= MAX_SIDE):
        return None
    return maps


def encoded_maps(maps: np.ndarray) -> list[str]:
    """Return the first ``MAPS_PER_IMAGE`` maps of one image, each as bytes."""
    return [_bytes(maps[:, :, f]) for f in range(min(maps.shape[-1], MAPS_PER_IMAGE))]


def feature_maps(
    model: Any, summary: ModelSummary, *, x_public: np.ndarray, y_public: np.ndarray
) -> dict[str, Any]:
    """Return the first Conv2D's filters and maps on the first public images.

    Empty when the model has no usable convolution (none, shared, or maps too
    large to draw): the page then says there is nothing to show.
    """
    conv = first_conv(summary)
    if conv is None or x_public.ndim != 4:
        return {}
    # The first public image of each class: the page's quick picks. Any other
    # public image is drawn on request by the warm predictor (``_serve``).
    picks = [int(np.flatnonzero(y_public == c)[0]) for c in np.unique(y_public)]
    picks = sorted(picks[:MAP_IMAGES])
    x = x_public[picks]
    maps = conv_maps(model, conv, x)
    try:
        kernel = np.asarray(conv.layer.get_weights()[0])
    except IndexError:
        return {}
    if maps is None or kernel.ndim != 4:
        return {}
    height, width = int(maps.shape[1]), int(maps.shape[2])
    kernel = kernel.mean(axis=2)  # (kh, kw, filters): one grey picture a filter
    return {
        "layer": conv.path,
        "kernel_size": [int(kernel.shape[0]), int(kernel.shape[1])],
        "size": [height, width],
        "filters": [
            _bytes(kernel[:, :, f]) for f in range(min(kernel.shape[-1], MAX_FILTERS))
        ],
        "images": [
            {
                "index": index,
                "label": int(y_public[index]),
                "pixels": base64.b64encode(
                    np.clip(np.rint(x[k] * 255), 0, 255).astype(np.uint8).tobytes()
                ).decode("ascii"),
                "maps": encoded_maps(maps[k]),
            }
            for k, index in enumerate(picks)
        ],
    }
