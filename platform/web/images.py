"""Small images for the grade page, drawn from what a sandbox reported.

The grader's report comes out of a sandbox, so every image in it is checked
here (count, labels, exact byte length for the assignment's own input shape)
and re-encoded as a PNG by this code; nothing in the report is shown as is.
"""

import base64
import binascii
import struct
import zlib
from collections.abc import Sequence

MAX_GALLERY = 16
# Larger images than this are not drawn (the canvas and the gallery are for
# MNIST-sized inputs).
MAX_SIDE = 64


def png_data_uri(pixels: bytes, *, height: int, width: int, channels: int) -> str:
    """Encode grey (1 channel) or RGB (3 channels) bytes as a PNG data URI."""
    colour = {1: 0, 3: 2}[channels]
    stride = width * channels
    raw = b"".join(
        b"\x00" + pixels[row * stride : (row + 1) * stride] for row in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return (
            struct.pack(">I", len(data))
            + body
            + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
        )

    png = b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)),
            chunk(b"IDAT", zlib.compress(raw, 9)),
            chunk(b"IEND", b""),
        ]
    )
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def drawable_shape(input_shape: Sequence[int] | None) -> tuple[int, int, int] | None:
    """Return (height, width, channels) when images of this shape can be drawn."""
    if not input_shape or len(input_shape) != 3:
        return None
    height, width, channels = (int(d) for d in input_shape)
    if not (0 < height <= MAX_SIDE and 0 < width <= MAX_SIDE and channels in (1, 3)):
        return None
    return height, width, channels


def decode_pixels(text: object, *, shape: tuple[int, int, int]) -> bytes | None:
    """Return the raw bytes of a base64 image of ``shape``, or None if it is not."""
    height, width, channels = shape
    expected = height * width * channels
    if not isinstance(text, str) or len(text) > 4 * (expected // 3 + 2):
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == expected else None


def class_label(names: Sequence[str], index: int) -> str:
    """Return the class's name, or its number where the names do not cover it."""
    return str(names[index]) if 0 <= index < len(names) else str(index)


def clean_misclassified(
    items: object, *, input_shape: Sequence[int] | None, num_classes: int
) -> list[dict]:
    """Keep the well-formed entries of a report's "misclassified" list (at most 16).

    Images (H, W, C) keep their pixels; word-id inputs (one dimension) keep
    their ids, at most that many, each a small non-negative integer.
    """
    if input_shape and len(input_shape) == 1 and isinstance(items, list):
        return _clean_token_items(
            items, length=int(input_shape[0]), classes=num_classes
        )
    shape = drawable_shape(input_shape)
    if shape is None or not isinstance(items, list):
        return []
    kept = []
    for item in items[:MAX_GALLERY]:
        if not isinstance(item, dict):
            continue
        true, predicted = item.get("true"), item.get("predicted")
        if not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v < num_classes
            for v in (true, predicted)
        ):
            continue
        if true == predicted or decode_pixels(item.get("pixels"), shape=shape) is None:
            continue
        kept.append({"true": true, "predicted": predicted, "pixels": item["pixels"]})
    return kept


MAX_TOKEN_ID = 1 << 20


def _clean_token_items(items: list, *, length: int, classes: int) -> list[dict]:
    kept = []
    for item in items[:MAX_GALLERY]:
        if not isinstance(item, dict):
            continue
        true, predicted, tokens = (item.get(k) for k in ("true", "predicted", "tokens"))
        if (
            not all(
                isinstance(v, int) and not isinstance(v, bool) and 0 <= v < classes
                for v in (true, predicted)
            )
            or true == predicted
        ):
            continue
        if not isinstance(tokens, list) or not 0 < len(tokens) <= length:
            continue
        if not all(
            isinstance(t, int) and not isinstance(t, bool) and 0 <= t < MAX_TOKEN_ID
            for t in tokens
        ):
            continue
        kept.append({"true": true, "predicted": predicted, "tokens": tokens})
    return kept


def misclassified_gallery(
    report: dict, *, input_shape: Sequence[int] | None, class_names: Sequence[str]
) -> list[dict]:
    """Return the report's misclassified images as PNGs with class names."""
    if drawable_shape(input_shape) is None:
        return []  # word ids: the page shows them as a table of definitions
    num_classes = len(report.get("confusion_matrix") or []) or len(class_names)
    items = clean_misclassified(
        report.get("misclassified"), input_shape=input_shape, num_classes=num_classes
    )
    shape = drawable_shape(input_shape)
    gallery = []
    for item in items:
        height, width, channels = shape
        pixels = decode_pixels(item["pixels"], shape=shape)
        gallery.append(
            {
                "src": png_data_uri(
                    pixels, height=height, width=width, channels=channels
                ),
                "true": class_label(class_names, item["true"]),
                "predicted": class_label(class_names, item["predicted"]),
            }
        )
    return gallery


def grey_png(text: object, size: Sequence[int]) -> str | None:
    """Return one grey map as a PNG, or None if it is not ``size`` bytes."""
    height, width = size
    raw = decode_pixels(text, shape=(height, width, 1))
    if raw is None:
        return None
    return png_data_uri(raw, height=height, width=width, channels=1)


def _items(value: object, limit: int) -> list:
    return value[: limit + 1] if isinstance(value, list) else []


def _side(value: object) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool)
    return value if ok and 0 < value <= MAX_SIDE else None


def model_sees(
    report: dict,
    *,
    input_shape: Sequence[int] | None,
    class_names: Sequence[str],
) -> dict | None:
    """Return "what your model sees" with its quick picks (first one selected).

    The report came out of the evaluation sandbox: every image and map is
    checked here (shape, exact byte length) and re-encoded by this code.
    ``public_split.model_sees_for_page`` selects the image a participant asked for.
    """
    data = report.get("feature_maps")
    shape = drawable_shape(input_shape)
    if not isinstance(data, dict) or shape is None:
        return None
    size = [_side(v) for v in _items(data.get("size"), 2)]
    kernel = [_side(v) for v in _items(data.get("kernel_size"), 2)]
    if len(size) != 2 or None in size or len(kernel) != 2 or None in kernel:
        return None
    filters = [grey_png(f, kernel) for f in _items(data.get("filters"), 16)]
    choices = []
    for item in _items(data.get("images"), 12):
        if not isinstance(item, dict):
            continue
        index, label = item.get("index"), item.get("label")
        if not isinstance(index, int) or not isinstance(label, int):
            continue
        if decode_pixels(item.get("pixels"), shape=shape) is None:
            continue
        maps = [grey_png(m, size) for m in _items(item.get("maps"), 16)]
        if not maps or None in maps:
            continue
        height, width, channels = shape
        choices.append(
            {
                "index": index,
                "name": class_label(class_names, label),
                "src": png_data_uri(
                    decode_pixels(item["pixels"], shape=shape),
                    height=height,
                    width=width,
                    channels=channels,
                ),
                "maps": maps,
            }
        )
    if not choices or not filters or None in filters:
        return None
    result = {"layer": str(data.get("layer", ""))[:200], "filters": filters}
    result["choices"], result["selected"], result["error"] = choices, choices[0], ""
    return result
