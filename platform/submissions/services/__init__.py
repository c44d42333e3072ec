"""Writes on submissions, runs, grades and regrade batches."""

from submissions.services.execution import submission_evaluate, submission_train
from submissions.services.grading import grade_record
from submissions.services.intake import submission_create, submissions_used_today
from submissions.services.lifecycle import (
    submission_cancel,
    submission_enqueue,
    submission_rerun,
)
from submissions.services.reconcile import submissions_reconcile
from submissions.services.regrade import (
    regrade_batch_cancel,
    regrade_batch_create,
    regrade_batch_run_chunk,
)
from submissions.services.sweep import work_dirs_sweep

__all__ = [
    "grade_record",
    "regrade_batch_cancel",
    "regrade_batch_create",
    "regrade_batch_run_chunk",
    "submission_cancel",
    "submission_create",
    "submission_enqueue",
    "submission_evaluate",
    "submission_rerun",
    "submission_train",
    "submissions_reconcile",
    "submissions_used_today",
    "work_dirs_sweep",
]
