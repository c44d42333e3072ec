"""Sweep local uploads that no job needs any more (`DOJO_OBJECT_STORE=local`).

A runner's upload waits in `DOJO_RUNNER_UPLOAD_ROOT/<job>/` while its host
holds the job, and after its result while the site's worker has still to take
the model (`HostJob.pending`). A job that ends any other way between its
upload and the worker (handed back, cancelled, its result refused, its row
deleted) leaves its folder behind: nothing else removes it. Nor does anything
remove a `.part` file whose request died with its process.

Runs with the jobs' own sweep (`submissions.services.sweep`, registered from
`RunnersConfig.ready`): no beat task of its own. Nothing touched within the
grace is removed, so an upload still streaming (its `.part` grows; a stalled
one is cut after `DOJO_RUNNER_STALL_SECONDS`) or a request writing
beside it now is never raced.
"""

import logging
import os
import time
from pathlib import Path

from django.conf import settings

from runners.kinds import host_jobs_held
from runners.models import HostJob
from workshops import folders

logger = logging.getLogger(__name__)

# Far longer than any pause in a live upload's writes, or a request's work in
# a folder: an hour's leftovers cost some disk, a race would cost a model.
UPLOAD_SWEEP_GRACE_SECONDS = 3600


def _last_touched(folder: Path) -> float:
    """Return the newest mtime in ``folder`` (itself, and everything under it)."""
    newest = folder.lstat().st_mtime
    for parent, dirs, names in os.walk(folder):
        for name in dirs + names:
            try:
                newest = max(newest, os.lstat(os.path.join(parent, name)).st_mtime)
            except FileNotFoundError:
                continue
    return newest


def runner_uploads_sweep() -> dict[str, int]:
    """Remove upload folders of jobs that no longer need them, and stale
    `.part` files, untouched for the grace; return the counts."""
    counts = {"runner_uploads": 0, "runner_upload_parts": 0}
    root = Path(settings.DOJO_RUNNER_UPLOAD_ROOT)
    if not root.is_dir():
        return counts
    found = {
        int(entry.name): Path(entry.path)
        for entry in os.scandir(root)
        if entry.name.isdigit() and entry.is_dir(follow_symlinks=False)
    }
    held = host_jobs_held().filter(pk__in=list(found)).values_list("pk", flat=True)
    waiting = HostJob.objects.filter(pk__in=list(found), pending__isnull=False)
    needed = set(held) | set(waiting.values_list("pk", flat=True))
    cutoff = time.time() - UPLOAD_SWEEP_GRACE_SECONDS
    for pk, folder in found.items():
        try:
            if pk not in needed:
                if _last_touched(folder) < cutoff and folders.discard(folder):
                    counts["runner_uploads"] += 1
                continue
            for part in folder.glob(".*.part"):
                if part.lstat().st_mtime < cutoff:
                    part.unlink(missing_ok=True)
                    counts["runner_upload_parts"] += 1
        except FileNotFoundError:
            continue  # Removed meanwhile by the job's own end.
    return counts
