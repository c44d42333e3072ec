"""Sweep what jobs left on disk: work dirs no live run owns, artifacts of deleted
runs. Retries every cleanup that failed when its job ended."""

import datetime
import logging
import os
import re
import time
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from submissions.models import Run, Submission
from workers.sandbox import CleanupError, remove_tree

logger = logging.getLogger(__name__)

# Every name an owner uses, and how the sweeper tells that its owner lives:
# run-<run>(-job), eval-<run>(-job), regrade-<batch>-<run>[-r<round>](-job): the
# run's heartbeat; predictor-<pid>-<hex> and the spares, (eval-)spare-<pid>-<hex>
# (-job): the worker process that keeps them.
OWNER = re.compile(
    r"^(?:run|eval|regrade-\d+)-(?P<run>\d+)(?:-r\d+)?(?:-job)?$"
    r"|^(?:predictor|spare|eval-spare)-(?P<pid>\d+)-[0-9a-f]+(?:-job)?$"
)
# A folder with a name no job uses (a stash left by a crash) goes after this.
UNKNOWN_AFTER_SECONDS = 3600


def _live_run_pks(pks: set[int]) -> set[int]:
    """Return the runs among ``pks`` that may still be writing to their folder."""
    since = timezone.now() - datetime.timedelta(
        seconds=settings.DOJO_HEARTBEAT_GRACE_SECONDS
    )
    return set(
        Run.objects.filter(
            pk__in=pks, finished_at__isnull=True, heartbeat_at__gte=since
        ).values_list("pk", flat=True)
    )


def _process_alive(pid: int) -> bool:
    """Return whether a process of this host has this pid (a predictor's owner)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def _remove(path: Path, counts: dict[str, int], key: str) -> None:
    try:
        remove_tree(path)
    except CleanupError:
        logger.exception("The sweeper could not remove %s; it retries next time", path)
        counts["failed"] += 1
    else:
        counts[key] += 1


def work_dirs_sweep() -> dict[str, int]:
    """Remove orphaned work dirs and artifacts of deleted runs; return the counts."""
    counts = {"work_dirs": 0, "artifacts": 0, "failed": 0}
    work_root = Path(settings.DOJO_WORK_ROOT)
    entries = list(os.scandir(work_root)) if work_root.is_dir() else []
    owners = {e.name: OWNER.match(e.name) for e in entries}
    pks = {int(m["run"]) for m in owners.values() if m and m["run"]}
    live = _live_run_pks(pks)
    for entry in entries:
        match = owners[entry.name]
        if match is None:
            age = time.time() - entry.stat(follow_symlinks=False).st_mtime
            if age < UNKNOWN_AFTER_SECONDS:
                continue
        elif match["pid"] and _process_alive(int(match["pid"])):
            continue
        elif match["run"] and int(match["run"]) in live:
            continue
        _remove(Path(entry.path), counts, "work_dirs")
    artifact_root = Path(settings.DOJO_ARTIFACT_ROOT)
    if not artifact_root.is_dir():
        return counts
    submissions = {e.name: e for e in os.scandir(artifact_root) if e.name.isdigit()}
    kept_submissions = set(
        Submission.objects.filter(pk__in=[int(n) for n in submissions]).values_list(
            "pk", flat=True
        )
    )
    for name, entry in submissions.items():
        if int(name) not in kept_submissions:
            _remove(Path(entry.path), counts, "artifacts")
            continue
        runs = {
            e.name: e
            for e in os.scandir(entry.path)
            if e.name.startswith("run-") and e.name[4:].isdigit()
        }
        kept_runs = set(
            Run.objects.filter(pk__in=[int(n[4:]) for n in runs]).values_list(
                "pk", flat=True
            )
        )
        for run_name, run_entry in runs.items():
            if int(run_name[4:]) not in kept_runs:
                _remove(Path(run_entry.path), counts, "artifacts")
    return counts
