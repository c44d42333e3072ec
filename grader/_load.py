"""Load a participant's model without running any of its code.

The archive is inspected before Keras sees it: Keras would happily unzip a bomb,
and its own refusals (safe mode) come as bare ValueError/TypeError messages that a
participant cannot act on.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from ._errors import (
    GraderError,
    IncompatibleModelError,
    InvalidModelFileError,
    UnsafeModelError,
)

MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_UNCOMPRESSED_BYTES = 512 * 1024 * 1024
MAX_MEMBERS = 256
MAX_CONFIG_BYTES = 16 * 1024 * 1024
# Keras configs nest a few levels per layer; nested models add a few more.
MAX_CONFIG_DEPTH = 200
# Real weights compress poorly (about 1.1x); a bomb compresses thousands of times.
MAX_COMPRESSION_RATIO = 100
RATIO_CHECK_MIN_BYTES = 1024 * 1024

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
# Layers whose config carries code or a path to foreign code.
UNSAFE_CLASSES = {
    "Lambda": "Lambda layers run arbitrary Python code",
    "TFSMLayer": "TFSMLayer loads a TensorFlow SavedModel from outside the file",
    "__lambda__": "the file contains a serialized Python function",
}
RESAVE_HINT = (
    "Build the model from standard keras.layers and save it with model.save()."
)


def inspect_archive(path: Path) -> dict[str, Any]:
    """Check that ``path`` is a plain, bounded ``.keras`` zip.

    Return ``{"config": ..., "config_sha256": ...}``.
    """
    if not path.is_file():
        raise InvalidModelFileError(f"No model file at {path.name}: save model.keras.")
    size = path.stat().st_size
    if size == 0:
        raise InvalidModelFileError(
            "The model file is empty: training probably stopped before "
            "model.save() ran. Check the end of your training log."
        )
    if size > MAX_FILE_BYTES:
        raise InvalidModelFileError(
            f"The model file is {size // 2**20} MiB; the limit is "
            f"{MAX_FILE_BYTES // 2**20} MiB. Use a smaller model."
        )
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(HDF5_MAGIC):
        raise InvalidModelFileError(
            "This is a legacy HDF5 (.h5) file. Save in the Keras 3 format with "
            'model.save(os.path.join(OUTPUT_DIR, "model.keras")).'
        )
    if head[:1] == b"\x80" or not zipfile.is_zipfile(path):
        kind = "a Python pickle" if head[:1] == b"\x80" else "not a Keras archive"
        raise InvalidModelFileError(
            f"The model file is {kind}. Save the model with "
            'model.save(os.path.join(OUTPUT_DIR, "model.keras")); pickles are '
            "never loaded because they can run code."
        )
    try:
        with zipfile.ZipFile(path) as archive:
            return _inspect_members(archive)
    except GraderError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the file makes zipfile raise
        # BadZipFile, zlib.error, lzma.LZMAError, OSError (bzip2), EOFError,
        # NotImplementedError (an unknown compression method), RecursionError...:
        # the file is the participant's, so is the failure to read it.
        raise InvalidModelFileError(
            f"The model archive is damaged ({_describe(exc, 200)}). Save it again "
            "with model.save()."
        ) from exc


def _inspect_members(archive: zipfile.ZipFile) -> dict[str, Any]:
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise InvalidModelFileError(
            f"The archive holds {len(members)} files; a .keras model holds a few."
        )
    total = 0
    for info in members:
        name = info.filename
        if name.startswith(("/", "\\")) or ".." in Path(name).parts or ":" in name:
            raise UnsafeModelError(f"The archive member {name!r} escapes the archive.")
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_CHECK_MIN_BYTES and ratio > MAX_COMPRESSION_RATIO:
            raise InvalidModelFileError(
                f"The archive member {name!r} expands {ratio:.0f} times (a zip "
                "bomb?). Save the model with model.save()."
            )
    if total > MAX_UNCOMPRESSED_BYTES:
        raise InvalidModelFileError(
            f"The archive expands to {total // 2**20} MiB; the limit is "
            f"{MAX_UNCOMPRESSED_BYTES // 2**20} MiB."
        )
    names = {info.filename for info in members}
    if "config.json" not in names or not any(
        n.startswith("model.weights") for n in names
    ):
        raise InvalidModelFileError(
            "The zip file is not a Keras model (config.json or model.weights.h5 is "
            "missing). Save it with model.save(...'model.keras')."
        )
    if archive.getinfo("config.json").file_size > MAX_CONFIG_BYTES:
        raise InvalidModelFileError("The model's config.json is implausibly large.")
    for info in members:  # decompress every member once: damage shows here
        with archive.open(info) as member:
            while member.read(1024 * 1024):
                pass
    raw = archive.read("config.json")
    if _nesting(raw) > MAX_CONFIG_DEPTH:
        raise InvalidModelFileError(
            f"The model's config.json is nested deeper than {MAX_CONFIG_DEPTH} "
            "levels; a Keras model's config is not."
        )
    try:
        config = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidModelFileError(
            f"The model's config.json is damaged: {_first_line(str(exc), 200)}."
        ) from exc
    _check_config(config)
    return {"config": config, "config_sha256": hashlib.sha256(raw).hexdigest()}


def _nesting(raw: bytes) -> int:
    """Return how deeply ``raw`` nests brackets (strings skipped), without parsing."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_CONFIG_DEPTH:
                return deepest
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def _check_config(config: Any) -> None:
    """Refuse configs that name code: Lambda, custom classes, foreign modules."""
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        class_name = node.get("class_name")
        if isinstance(class_name, str):
            if class_name in UNSAFE_CLASSES:
                raise UnsafeModelError(
                    f"Your model uses {class_name}: {UNSAFE_CLASSES[class_name]}, so "
                    f"the grader refuses it. {RESAVE_HINT}"
                )
            module = node.get("module")
            registered = node.get("registered_name")
            custom = (isinstance(module, str) and not _is_keras_module(module)) or (
                isinstance(registered, str) and ">" in registered
            )
            if custom:
                raise UnsafeModelError(
                    f"Your model uses a custom class or function {class_name!r} "
                    f"(from {module or registered!r}); the grader loads only "
                    f"built-in Keras objects. {RESAVE_HINT}"
                )
        stack.extend(node.values())


def _is_keras_module(module: str) -> bool:
    return module == "keras" or module.startswith("keras.")


# A cached model holds far more than its file: its variables, the traced
# predict function and TensorFlow's buffers (an 85 MiB file added about
# 500 MiB resident in the warm evaluator).
RESIDENT_PER_FILE_BYTE = 6
MODEL_CACHE_BYTES = 1024 * 1024**2


def resident_estimate(path: Path) -> int:
    """Return about how much memory the model in ``path`` holds once loaded."""
    try:
        return RESIDENT_PER_FILE_BYTE * path.stat().st_size
    except OSError:
        return 0


class ModelCache:
    """Reuse a built model for archives whose config.json is byte-identical.

    Rebuilding a Sequential from its config costs most of a grading; in a regrade
    many participants share an architecture. Before reuse every float variable is
    set to NaN and must be overwritten by the new file's weights, so one model's
    weights can never leak into another's grade.

    It holds at most ``max_bytes`` of models (by ``resident_estimate``), so the
    models it keeps can never take the memory the next one needs; one larger
    than that alone is never kept.
    """

    def __init__(
        self, *, max_entries: int = 32, max_bytes: int = MODEL_CACHE_BYTES
    ) -> None:
        self._models: dict[str, tuple[Any, int]] = {}
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.hits = 0

    @property
    def held_bytes(self) -> int:
        """Return the estimated memory of the models kept."""
        return sum(cost for _, cost in self._models.values())

    def __len__(self) -> int:
        return len(self._models)

    def fits(self, cost: int) -> bool:
        """Return whether a model of this estimated cost may be kept at all."""
        return cost <= self.max_bytes

    def get(self, key: str) -> Any | None:
        """Return the model built from the config with this digest, if any."""
        entry = self._models.get(key)
        return entry[0] if entry is not None else None

    def put(self, key: str, model: Any, *, cost: int = 0) -> None:
        """Remember ``model``, forgetting the oldest until it fits both bounds."""
        self._models.pop(key, None)
        if not self.fits(cost):
            return
        while self._models and (
            len(self._models) >= self.max_entries
            or self.held_bytes + cost > self.max_bytes
        ):
            self._models.pop(next(iter(self._models)))
        self._models[key] = (model, cost)

    def clear(self) -> None:
        """Forget every model (before a Keras session reset)."""
        self._models.clear()


def load_model(path: Path, *, cache: ModelCache | None = None) -> Any:
    """Inspect then load ``path`` with Keras in safe mode and no custom objects."""
    info = inspect_archive(path)
    import keras

    with tempfile.TemporaryDirectory(prefix="grader-") as tmp:
        # Keras picks its loader from the suffix; stored artifacts may lack it.
        target = path
        if path.suffix != ".keras":
            target = Path(tmp) / "model.keras"
            os.symlink(path.resolve(), target)
        cached = cache.get(info["config_sha256"]) if cache is not None else None
        if cached is not None and _reload_weights(cached, target):
            cache.hits += 1
            return cached
        model = _keras_load(keras, target)
    if not hasattr(model, "inputs") or not hasattr(model, "layers"):
        raise IncompatibleModelError("The file holds a Keras object, not a model.")
    if cache is not None:
        cache.put(info["config_sha256"], model, cost=resident_estimate(path))
    return model


def _reload_weights(model: Any, target: Path) -> bool:
    """Load only the weights into an already built model; False if unsure."""
    import numpy as np

    floats = [v for v in model.variables if "float" in str(v.dtype)]
    for variable in floats:
        variable.assign(np.full(variable.shape, np.nan, dtype=str(variable.dtype)))
    try:
        model.load_weights(target)
    except Exception:  # any mismatch: fall back to a full, fresh load
        return False
    return not any(np.isnan(np.asarray(v.numpy())).any() for v in floats)


def _keras_load(keras: Any, target: Path) -> Any:
    try:
        return keras.saving.load_model(target, safe_mode=True, compile=False)
    except (ValueError, TypeError) as exc:
        text = str(exc)
        if "safe_mode" in text or "Could not locate" in text or "lambda" in text:
            raise UnsafeModelError(
                f"Keras refused to load the model safely: {_first_line(text)} "
                f"{RESAVE_HINT}"
            ) from exc
        raise InvalidModelFileError(
            f"Keras could not load the model: {_first_line(text)}"
        ) from exc
    except EOFError as exc:
        # A member that ends before its data does (an empty model.weights.npz
        # makes NumPy raise this): the file was cut short while being written.
        raise InvalidModelFileError(
            f"The model file ends too early ({_describe(exc)}): it was cut short "
            "while being written. Save it again with model.save() and let the "
            "save finish."
        ) from exc
    except Exception as exc:  # any loader fault lies with the file
        raise InvalidModelFileError(
            f"Keras could not load the model: {_describe(exc)}"
        ) from exc


def _describe(exc: BaseException, limit: int = 300) -> str:
    """Name ``exc`` and its first line; many (a bare EOFError) carry no text."""
    text = _first_line(str(exc), limit)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _first_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:limit]
