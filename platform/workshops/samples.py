"""What an assignment keeps of its hidden split's public half, for pages.

Written when the data is prepared (a pack loaded, an upload accepted): one
sample image per class for "try your model", and every public image with both
halves' sizes for "what your model sees" (a text pack's public definitions as
word ids). Never a private image or definition.
"""

import base64
import json
from pathlib import Path

import numpy as np

from workshops import folders

SAMPLES_FILE = "samples.json"
IMAGES_FILE = "public_images.npy"
SIZES_FILE = "public_split.json"
# A text pack's public test definitions, as word ids (N x length int32).
DEFINITIONS_FILE = "public_definitions.npy"


def samples_write(*, assignment_id: int, test_split: Path) -> None:
    """Keep one public test image per class for the page's "try" samples.

    Also keep every public image for "what your model sees" (never a private one).
    """
    with np.load(test_split, allow_pickle=False) as data:
        x, y = data["x_public"], data["y_public"]
        private = len(data["y_private"])
    folder = folders.assignment_materials_dir(assignment_id)
    folder.mkdir(parents=True, exist_ok=True)
    if np.issubdtype(x.dtype, np.integer):
        # Token sequences (a text pack): no images to draw; the public
        # definitions' word ids are kept for "what your model sees".
        (folder / SAMPLES_FILE).write_text("[]")
        np.save(folder / DEFINITIONS_FILE, x.astype("int32"), allow_pickle=False)
        return
    public_images_write(
        assignment_id=assignment_id, x_public=x, y_public=y, private=private
    )
    samples = []
    for label in np.unique(y)[:12]:
        index = int(np.flatnonzero(y == label)[0])
        pixels = np.clip(np.rint(x[index] * 255), 0, 255).astype(np.uint8)
        samples.append(
            {
                "label": int(label),
                "pixels": base64.b64encode(pixels.tobytes()).decode("ascii"),
            }
        )
    (folder / SAMPLES_FILE).write_text(json.dumps(samples))


def public_images_write(
    *, assignment_id: int, x_public: np.ndarray, y_public: np.ndarray, private: int
) -> None:
    """Keep the public images (as bytes), their labels and both halves' sizes."""
    folder = folders.assignment_materials_dir(assignment_id)
    folder.mkdir(parents=True, exist_ok=True)
    pixels = np.clip(np.rint(x_public * 255), 0, 255).astype(np.uint8)
    np.save(folder / IMAGES_FILE, pixels, allow_pickle=False)
    sizes = {
        "public": int(len(y_public)),
        "private": int(private),
        "labels": [int(v) for v in y_public],
    }
    (folder / SIZES_FILE).write_text(json.dumps(sizes))
