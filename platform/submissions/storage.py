"""Where files live on disk: assignment data, trained models, sandbox work dirs."""

import logging
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


def artifact_dir(submission_id: int) -> Path:
    return Path(settings.DOJO_ARTIFACT_ROOT) / str(submission_id)


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
