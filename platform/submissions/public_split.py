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
from workshops.samples import DEFINITIONS_FILE, IMAGES_FILE, SIZES_FILE

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


def public_definitions_count(*, assignment_id: int) -> int:
    """Return how many public test definitions a text assignment keeps (0: none)."""
    try:
        kept = np.load(_folder(assignment_id) / DEFINITIONS_FILE, mmap_mode="r")
    except (OSError, ValueError):
        return 0
    return int(kept.shape[0]) if kept.ndim == 2 else 0


def public_definition_get(*, assignment_id: int, index: object) -> np.ndarray:
    """Return public test definition ``index`` as its word ids, or refuse it.

    The index is checked like an image's (``public_index_parse``): a whole
    number below the public half's size, with what to pick instead.
    """
    count = public_definitions_count(assignment_id=assignment_id)
    if count == 0:
        raise ValidationError("This assignment keeps no public test definitions.")
    raw = str(index)[:64] if isinstance(index, int | str) else ""
    if isinstance(index, bool):
        raw = ""
    chosen = public_index_parse(
        image=raw, split="", public=count, private=0, what="definition"
    )
    kept = np.load(_folder(assignment_id) / DEFINITIONS_FILE, mmap_mode="r")
    return np.array(kept[chosen], dtype=np.int32)


def public_index_parse(
    *, image: str, split: str, public: int, private: int, what: str = "image"
) -> int:
    """Return the public image index a participant asked for.

    Raise ``ValidationError`` with a message saying what to pick instead for
    anything else: a private pick, a non-number, or an index past the split.
    ``what`` names the items (a text pack's are definitions).
    """
    last = public - 1
    choose = f"Pick a public test {what} from 0 to {last}."
    if split not in ("", "public"):
        raise ValidationError(
            f"Only public test {what}s can be shown: the private test set stays "
            f"hidden until the end. {choose}"
        )
    shown = image[:20]
    if not INDEX.fullmatch(image):
        raise ValidationError(
            f"{shown!r} is not a test {what} number: use a whole number from 0 to "
            f"{last}."
        )
    index = int(image)
    if index < public:
        return index
    if index < public + private:
        raise ValidationError(
            f"Test {what} {index} belongs to the private test set, which stays hidden "
            f"until the end. {choose}"
        )
    raise ValidationError(f"There is no public test {what} {shown!r}. {choose}")


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
