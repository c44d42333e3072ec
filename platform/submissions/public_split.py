"""The public half of an assignment's hidden split, for "what your model sees".

A participant may pick any public test image by its index. Only the public
images are copied next to the assignment's materials (the private half stays
in the hidden folder, read by graders only); the private half's size is kept
so that a pick inside it gets a message saying why it is refused. Indices run
over the whole hidden split as the grader reads it: the public images first,
then the private ones.
"""

import base64
import json
import re
from pathlib import Path

import numpy as np
from django.core.exceptions import ValidationError

from web import images
from workshops import folders
from workshops.samples import IMAGES_FILE, SIZES_FILE

# Digits only: no sign, space, point or other base (int() would take some).
INDEX = re.compile(r"[0-9]{1,64}")


def _folder(assignment_id: int) -> Path:
    return folders.assignment_materials_dir(assignment_id)


def public_split_sizes(*, assignment_id: int) -> dict | None:
    """Return {"public", "private", "labels"}, or None where none was kept."""
    path = _folder(assignment_id) / SIZES_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def public_image_get(*, assignment_id: int, index: int) -> str:
    """Return public image ``index`` as base64 bytes (H x W x C, uint8)."""
    images = np.load(_folder(assignment_id) / IMAGES_FILE, mmap_mode="r")
    return base64.b64encode(np.ascontiguousarray(images[index]).tobytes()).decode()


def public_index_parse(*, image: str, split: str, public: int, private: int) -> int:
    """Return the public image index a participant asked for.

    Raise ``ValidationError`` with a message saying what to pick instead for
    anything else: a private pick, a non-number, or an index past the split.
    """
    last = public - 1
    choose = f"Pick a public test image from 0 to {last}."
    if split not in ("", "public"):
        raise ValidationError(
            "Only public test images can be shown: the private test set stays "
            f"hidden until the end. {choose}"
        )
    shown = image[:20]
    if not INDEX.fullmatch(image):
        raise ValidationError(
            f"{shown!r} is not a test image number: use a whole number from 0 to "
            f"{last}."
        )
    index = int(image)
    if index < public:
        return index
    if index < public + private:
        raise ValidationError(
            f"Test image {index} belongs to the private test set, which stays hidden "
            f"until the end. {choose}"
        )
    raise ValidationError(f"There is no public test image {shown!r}. {choose}")


def model_sees_for_page(
    report: dict,
    *,
    assignment_id: int,
    image: str | None,
    split: str | None,
    input_shape: list[int] | None,
    class_names: list[str],
) -> dict | None:
    """Return "what your model sees" for the asked-for public image, or None.

    ``images.model_sees`` checks the report's maps and quick picks. A quick
    pick shows the maps the grader drew; any other public image is shown with
    ``pending`` set (the page asks the predictor for its maps). A refused pick
    sets ``error`` (the page answers 400) and keeps the first image selected.
    """
    sees = images.model_sees(report, input_shape=input_shape, class_names=class_names)
    if sees is None:
        return None
    sizes = public_split_sizes(assignment_id=assignment_id)
    choices = {str(c["index"]): c for c in sees["choices"]}
    asked = image is not None or split not in (None, "", "public")
    image, split = (image or "")[:64], (split or "")[:64]
    if sizes is None:  # kept before any public image was: only the quick picks
        if split not in ("", "public") or (image and image not in choices):
            sees["error"] = (
                "Only the public test images above can be shown: pick one of "
                f"{', '.join(choices)}."
            )
        elif image:
            sees["selected"] = choices[image]
        return sees
    # The report came out of a sandbox: a quick pick outside the public range
    # is not drawn as a public image.
    sees["choices"] = [c for c in sees["choices"] if 0 <= c["index"] < sizes["public"]]
    if not sees["choices"]:
        return None
    sees["selected"], choices = (
        sees["choices"][0],
        {str(c["index"]): c for c in sees["choices"]},
    )
    sees["public_count"], sees["last"] = sizes["public"], sizes["public"] - 1
    if not asked:
        return sees
    try:
        index = public_index_parse(
            image=image, split=split, public=sizes["public"], private=sizes["private"]
        )
    except ValidationError as exc:
        sees["error"] = " ".join(exc.messages)
        return sees
    if str(index) in choices:
        sees["selected"] = choices[str(index)]
        return sees
    shape = images.drawable_shape(input_shape)
    raw = base64.b64decode(public_image_get(assignment_id=assignment_id, index=index))
    if shape is None or len(raw) != int(np.prod(shape)):
        sees["error"] = "This public test image cannot be drawn here."
        return sees
    height, width, channels = shape
    sees["selected"] = {
        "index": index,
        "name": images.class_label(class_names, sizes["labels"][index]),
        "src": images.png_data_uri(raw, height=height, width=width, channels=channels),
        "maps": [],
        "pending": True,
    }
    return sees
