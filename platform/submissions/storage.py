"""Where a submission's trained model lives on disk.

An assignment's data and the work folders of sandbox runs live in
`workshops.folders`.
"""

from pathlib import Path

from django.conf import settings


def artifact_dir(submission_id: int) -> Path:
    return Path(settings.DOJO_ARTIFACT_ROOT) / str(submission_id)
