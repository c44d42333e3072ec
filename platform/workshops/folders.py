"""Where files live on disk: assignment data, data built once, sandbox work dirs.

An assignment's data splits and downloads; the cache of datasets, bases and
figures built once per content key and shared by every workshop that needs the
same; the work folder a process owns for one sandbox run (a job's, or an
upload's check). Trained models live in `submissions.storage`.
"""

import fcntl
import hashlib
import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from workers.sandbox import CleanupError, claim_work_dir, release_work_dir

logger = logging.getLogger(__name__)


def assignment_dir(assignment_id: int) -> Path:
    return Path(settings.DOJO_DATA_ROOT) / "assignments" / str(assignment_id)


def assignment_train_dir(assignment_id: int) -> Path:
    """Return the folder a training sandbox sees as $DOJO_DATA_DIR."""
    return assignment_dir(assignment_id) / "train"


def assignment_hidden_dir(assignment_id: int) -> Path:
    """Return the folder of the hidden test split; only evaluation sandboxes see it."""
    return assignment_dir(assignment_id) / "hidden"


def assignment_materials_dir(assignment_id: int) -> Path:
    """Return the folder of downloads that are not training data (starter notebook)."""
    return assignment_dir(assignment_id) / "materials"


def assignment_reference_dir(assignment_id: int) -> Path:
    """Return where the reference solution and the pack's spec live (not served)."""
    return assignment_dir(assignment_id) / "reference"


def sha256_json(data: object) -> str:
    """Return the SHA-256 of data's canonical JSON (a spec's or a cache key's)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def cached_build(key: str, build: Callable[[Path], None]) -> Path:
    """Build a data folder once per content key and reuse it afterwards.

    Processes that ask for the same key at once (two workers, two test
    processes, a pack import beside a worker) take turns on a lock file: the
    first builds, the others wait and find the folder complete, so no builder
    ever removes or overwrites the files of another.
    """
    root = Path(settings.DOJO_DATA_CACHE_ROOT)
    folder = root / key
    if (folder / ".complete").is_file():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{key}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / ".complete").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            build(folder)
            (folder / ".complete").touch()
    return folder


def data_slice() -> dict[str, int | None]:
    """Return the per-class slice of the data to keep (tests keep a small one)."""
    return {
        "train_per_class": settings.DOJO_DATASET_TRAIN_PER_CLASS or None,
        "test_per_class": settings.DOJO_DATASET_TEST_PER_CLASS or None,
    }


def dataset_build_key(dataset: dict) -> str:
    """Return the cache key of a dataset's splits (source, options, slice)."""
    return f"dataset-{sha256_json([dataset, data_slice()])[:16]}"


def base_build_key(source: str) -> str:
    """Return the cache key of the transfer base the site builds for a source."""
    return f"transfer-base-{sha256_json([{'source': source}, data_slice()])[:16]}"


def work_dir(name: str) -> Path:
    """Return an empty work folder that this process owns until ``discard``."""
    return claim_work_dir(Path(settings.DOJO_WORK_ROOT) / name)


def discard(path: Path) -> bool:
    """Remove a job's folder, whatever it holds; log a failure and return False.

    A failure is never the participant's problem: the folder is released, and
    the sweep of this worker retries it.
    """
    try:
        release_work_dir(path)
    except CleanupError:
        logger.exception("Could not remove %s; the sweeper will retry", path)
        return False
    return True
