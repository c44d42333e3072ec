"""Sweep what jobs left on disk: work dirs whose owner is gone, artifacts of
deleted runs, and what apps above register (runner hosts' uploads that no job
needs any more: `submissions.extensions.sweeper_register`). Retries every
cleanup that failed when its job ended."""

import logging
import os
from pathlib import Path

from django.conf import settings

from submissions.extensions import sweepers
from submissions.models import Run, Submission
from workers.sandbox import CleanupError, remove_tree, sweep_orphans

logger = logging.getLogger(__name__)


def _remove(path: Path, counts: dict[str, int], key: str) -> None:
    try:
        remove_tree(path)
    except CleanupError:
        logger.exception("The sweeper could not remove %s; it retries next time", path)
        counts["failed"] += 1
    else:
        counts[key] += 1


def work_dirs_sweep() -> dict[str, int]:
    """Remove orphaned work dirs, artifacts of deleted runs and what the
    registered sweepers judge unneeded (runner uploads); return the counts.

    Work dirs go by their claims (``workers.sandbox.sweep_orphans``): only those
    of this worker's pid namespace are judged here; every worker sweeps its own.
    """
    counts = {"artifacts": 0, **sweep_orphans(settings.DOJO_WORK_ROOT)}
    _artifacts_sweep(counts)
    for sweeper in sweepers():
        try:
            for key, removed in sweeper().items():
                counts[key] = counts.get(key, 0) + removed
        except Exception:
            logger.exception("A sweeper failed; it runs again next time")
            counts["failed"] += 1
    return counts


def _artifacts_sweep(counts: dict[str, int]) -> None:
    artifact_root = Path(settings.DOJO_ARTIFACT_ROOT)
    if not artifact_root.is_dir():
        return
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
