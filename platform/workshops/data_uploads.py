"""Instructor uploads that replace an assignment's dataset or its transfer base.

Either upload is all or nothing: the file is checked and the new data files are
built next to the old ones first; only then are the spec and the files swapped,
so a refused upload leaves the assignment exactly as it was.
"""

import hashlib
import json
import os
import shutil
import tempfile
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from workshops import folders
from workshops.folders import sha256_json
from workshops.models import Assignment
from workshops.samples import samples_write
from workshops.services import workshop_refuse_if_archived

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
BASE_LOAD_SECONDS = 180
BASE_LOAD_MEMORY = 4 * 2**30
RESAVE_HINT = "Save it in the Keras 3 format with model.save('base.keras')."
# Run in the evaluation sandbox: loading a model imports TensorFlow, which the web
# process never does; the file is untrusted; a crash or a runaway load must not
# take a web worker down.
BASE_PROBE = """
import json, sys
from pathlib import Path
from grader import GraderError
try:
    from grader._inspect import flatten_layers
    from grader._load import load_model
    model = load_model(Path(sys.argv[1]))
    if len(model.inputs) != 1:
        raise GraderError(f"The base has {len(model.inputs)} inputs; it needs one.")
    weighted = [f.path for f in flatten_layers(model) if f.layer.weights]
    result = {"input_shape": list(model.input_shape[1:]), "weighted": len(weighted)}
except GraderError as exc:
    result = {"error": str(exc)}
print("DOJO-PROBE " + json.dumps(result))
"""


def _max_bytes() -> int:
    return int(getattr(settings, "DOJO_DATASET_MAX_BYTES", DEFAULT_MAX_BYTES))


def _check_size(upload: UploadedFile, *, field: str) -> None:
    limit = _max_bytes()
    if not upload.size:
        raise ValidationError({field: "The file is empty. Choose the file again."})
    if upload.size > limit:
        raise ValidationError(
            {
                field: f"The file is {_size_text(upload.size)}; the limit is "
                f"{_size_text(limit)}. Upload a smaller file."
            }
        )


def _size_text(size: int) -> str:
    if size >= 2**20:
        return f"{size / 2**20:.1f} MiB"
    return f"{size:,} bytes"


def _store(upload: UploadedFile, *, folder: Path, suffix: str) -> tuple[Path, str]:
    """Stream the upload to ``folder/<sha256><suffix>``; return its path and hash."""
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=folder, suffix=".part", delete=False) as out:
        for chunk in upload.chunks():
            digest.update(chunk)
            out.write(chunk)
    sha256 = digest.hexdigest()
    path = folder / f"{sha256}{suffix}"
    os.replace(out.name, path)
    return path, sha256


@contextmanager
def _staging(assignment: Assignment) -> Iterator[Path]:
    """Yield a scratch folder on the same disk as the data (so moves are atomic)."""
    uploads = folders.assignment_dir(assignment.pk) / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="staging-", dir=uploads))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def _swap_files(moves: dict[Path, Path]) -> Iterator[None]:
    """Move each staged file onto its target; put the old files back on failure.

    The old file is hard-linked aside before ``os.replace``, so the target path
    always holds a complete file for a job that is reading it.
    """
    backups: dict[Path, Path] = {}
    moved: list[Path] = []
    try:
        for staged, target in moves.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                backup = target.with_name(f".{target.name}.previous")
                backup.unlink(missing_ok=True)
                os.link(target, backup)
                backups[target] = backup
            os.replace(staged, target)
            moved.append(target)
        yield
    except BaseException:
        for target in moved:
            if target in backups:
                os.replace(backups.pop(target), target)
            else:
                target.unlink(missing_ok=True)
        raise
    finally:
        for backup in backups.values():
            backup.unlink(missing_ok=True)


def _save_spec(assignment: Assignment, spec: dict[str, Any]) -> None:
    """Validate and store a new spec; a changed spec gets a new version."""
    import grader

    try:
        grader.validate_spec(spec)
    except grader.SetupError as exc:
        raise ValidationError(str(exc)) from None
    spec_sha = sha256_json(spec)
    if spec_sha != assignment.spec_sha256:
        # The grader stamps each grade with this version; old grades keep theirs.
        assignment.spec_version += 1
    assignment.spec = spec
    assignment.spec_sha256 = spec_sha
    assignment.full_clean()
    assignment.save(update_fields=["spec", "spec_sha256", "spec_version"])


def assignment_dataset_upload(
    *, assignment: Assignment, upload: UploadedFile
) -> Assignment:
    """Replace the assignment's data with an instructor's ``.npz`` (arrays x, y).

    The upload is split with the assignment's seed into train (given to
    participants) and public/private test (hidden); the spec's input shape and
    number of classes follow the new data.
    """
    from assignments import datasets

    workshop_refuse_if_archived(assignment.workshop)
    _check_size(upload, field="dataset")
    uploads = folders.assignment_dir(assignment.pk) / "uploads"
    path, sha256 = _store(upload, folder=uploads, suffix=".npz")
    in_use = assignment.spec.get("dataset", {}).get("sha256") == sha256
    seed = int(assignment.spec.get("dataset", {}).get("seed", 0))
    dataset = {"source": "npz", "sha256": sha256, "seed": seed}
    try:
        with _staging(assignment) as staged:
            try:
                # load_source("npz") inside refuses a wrong shape, dtype or label.
                info = datasets.materialize(dataset, staged, npz_path=path)
            except datasets.DatasetError as exc:
                # The message names the stored file (a hash); show the upload's name.
                message = str(exc).replace(path.name, upload.name or "The upload")
                raise ValidationError({"dataset": message}) from None
            moves = {
                staged / "train.npz": folders.assignment_train_dir(assignment.pk)
                / "train.npz",
                staged / "test.npz": folders.assignment_hidden_dir(assignment.pk)
                / "test.npz",
            }
            # Files first, so that a failed commit also puts the old files back.
            with _swap_files(moves), transaction.atomic():
                assignment = Assignment.objects.select_for_update().get(
                    pk=assignment.pk
                )
                spec = json.loads(json.dumps(assignment.spec))
                spec["dataset"] = dataset
                checks = spec.setdefault("checks", {})
                checks["input_shape"] = info["input_shape"]
                checks["num_classes"] = info["num_classes"]
                spec["class_names"] = info["class_names"]
                spec.pop("data_notice", None)
                _save_spec(assignment, spec)
    except BaseException:
        if not in_use:
            path.unlink(missing_ok=True)
        raise
    transaction.on_commit(lambda: _forget_old_uploads(uploads, keep=path))
    samples_write(
        assignment_id=assignment.pk,
        test_split=folders.assignment_hidden_dir(assignment.pk) / "test.npz",
    )
    return assignment


def _forget_old_uploads(folder: Path, *, keep: Path) -> None:
    """Delete uploads that no spec points to any more (each can be 200 MB)."""
    for old in folder.glob("*.npz"):
        if old != keep:
            old.unlink(missing_ok=True)


def _probe_base(path: Path) -> dict[str, Any]:
    """Load the base with the grader's safe loader in the evaluation sandbox.

    The upload is as untrusted as a participant's model: it is loaded the same
    way, as the sandbox uid with no network, a cleared environment (no secret
    key, no database URL) and limits, never by Keras in the web process.
    """
    from workers import sandbox
    from workers.evaluation import GRADER_DIR

    name = f"base-probe-{uuid.uuid4().hex[:12]}"
    job = folders.work_dir(f"{name}-job")
    work = folders.work_dir(name)
    try:
        shutil.copyfile(path, job / "base.keras")
        (job / "base.keras").chmod(0o644)
        result = sandbox.run(
            ["python", "-c", BASE_PROBE, "/job/base.keras"],
            work_dir=work,
            binds=[
                sandbox.Bind(GRADER_DIR, "/opt/dojo/grader"),
                sandbox.Bind(job, "/job"),
            ],
            env={
                "KERAS_BACKEND": settings.DOJO_KERAS_BACKEND,
                "TF_CPP_MIN_LOG_LEVEL": "3",
                "PYTHONPATH": "/opt/dojo",
            },
            limits=sandbox.SandboxLimits(
                wall_seconds=BASE_LOAD_SECONDS,
                cpu_seconds=BASE_LOAD_SECONDS * 4,
                memory_bytes=BASE_LOAD_MEMORY,
            ),
            backend=settings.DOJO_SANDBOX_BACKEND,
            chdir=str(work),
        )
    except sandbox.SandboxError as exc:
        raise ValidationError(
            {"base": f"The base cannot be checked on this server now ({exc})."}
        ) from None
    finally:
        folders.discard(job)
        folders.discard(work)
    if result.outcome == sandbox.Outcome.TIMED_OUT:
        raise ValidationError(
            {
                "base": f"Loading the base took over {BASE_LOAD_SECONDS} s; "
                "upload a smaller model."
            }
        )
    if result.outcome == sandbox.Outcome.KILLED_MEMORY:
        raise ValidationError(
            {
                "base": "Loading the base needed more than "
                f"{BASE_LOAD_MEMORY // 2**30} GB of memory; upload a smaller model."
            }
        )
    lines = [line for line in result.log.splitlines() if line.startswith("DOJO-PROBE ")]
    try:
        probe = json.loads(lines[-1].removeprefix("DOJO-PROBE ")) if lines else None
    except ValueError:
        probe = None
    if result.outcome != sandbox.Outcome.OK or not isinstance(probe, dict):
        last = (result.log.strip().splitlines() or ["no output"])[-1][:300]
        raise ValidationError(
            {"base": f"Keras could not load the base ({last}). {RESAVE_HINT}"}
        )
    return probe


def assignment_base_upload(
    *, assignment: Assignment, upload: UploadedFile
) -> Assignment:
    """Publish an instructor's ``.keras`` model as the transfer assignment's base.

    The file passes the grader's own checks (no code, no custom classes, a plain
    bounded archive) and a full safe load before it replaces ``base.keras``.
    """
    from grader import GraderError
    from grader._load import inspect_archive

    workshop_refuse_if_archived(assignment.workshop)
    if assignment.kind != Assignment.Kind.TRANSFER:
        raise ValidationError(
            {
                "base": "Only a transfer-learning assignment has a pretrained base; "
                f"“{assignment.title}” is a {assignment.get_kind_display()} "
                "assignment."
            }
        )
    _check_size(upload, field="base")
    with _staging(assignment) as staged:
        path, sha256 = _store(upload, folder=staged, suffix=".keras")
        try:
            inspect_archive(path)
        except GraderError as exc:
            raise ValidationError(
                {"base": f"This file cannot be the base: {exc}"}
            ) from None
        except (OSError, zipfile.BadZipFile, ValueError) as exc:
            raise ValidationError(
                {"base": f"This file cannot be the base ({exc}). {RESAVE_HINT}"}
            ) from None
        probe = _probe_base(path)
        if "error" in probe:
            raise ValidationError(
                {"base": f"This file cannot be the base: {probe['error']}"}
            )
        if not probe["weighted"]:
            raise ValidationError(
                {
                    "base": "The base has no layers with weights, so there is "
                    "nothing pretrained to transfer. Upload a trained model."
                }
            )
        target = folders.assignment_train_dir(assignment.pk) / "base.keras"
        with _swap_files({path: target}), transaction.atomic():
            assignment = Assignment.objects.select_for_update().get(pk=assignment.pk)
            spec = json.loads(json.dumps(assignment.spec))
            spec["base_model"] = {
                "source": "upload",
                "sha256": sha256,
                "input_shape": probe["input_shape"],
                "weighted_layers": probe["weighted"],
            }
            _save_spec(assignment, spec)
    return assignment


def assignment_data_summary(*, assignment: Assignment) -> dict[str, Any]:
    """Describe the data participants get: training images, shape, classes, base.

    Reads only the header of ``train.npz``, never the arrays.
    """
    import numpy as np

    checks = assignment.spec.get("checks", {})
    shape = checks.get("input_shape") or []
    train = folders.assignment_train_dir(assignment.pk) / "train.npz"
    images = None
    if train.is_file():
        with zipfile.ZipFile(train) as archive, archive.open("y.npy") as member:
            version = np.lib.format.read_magic(member)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            images = int(read_header(member)[0][0])
    base = assignment.spec.get("base_model") or {}
    base_shape = base.get("input_shape")
    mismatch = ""
    if assignment.kind == Assignment.Kind.TRANSFER and base_shape and shape:
        if list(base_shape) != list(shape):
            mismatch = (
                f"The base takes {_shape_text(base_shape)} images but the data is "
                f"{_shape_text(shape)}; upload a base or a dataset that matches."
            )
    dataset = assignment.spec.get("dataset", {})
    return {
        "source": dataset.get("source", "sklearn-digits"),
        "train_images": images,
        "input_shape": _shape_text(shape),
        "num_classes": checks.get("num_classes"),
        "base_source": base.get("source", "built-in") if base else None,
        "mismatch": mismatch,
        "spec_version": assignment.spec_version,
    }


def _shape_text(shape: list[Any]) -> str:
    return "x".join(str(d) for d in shape)
