"""Check runs under the one reconciler (`jobs.reconcile`).

A check run is its own job row: `queued` waits for its message (or, on a
runner-only queue, for a runner host to take it from the row), `running` is
claimed and beats, `evaluating` (trained on a runner host) waits for the
site's grader, then beats while it checks the model. This module says what
the invariant reads of one and how it is sent again, run again or ended; the
decisions are the reconciler's.
"""

import shutil
from pathlib import Path

from django.conf import settings

from checks.feedback import PLATFORM_FAULT, WORKER_LOST
from checks.models import (
    ACTIVE_CHECK_STATUSES,
    WORKING_CHECK_STATUSES,
    CheckRun,
    CheckStatus,
)
from checks.services import check_run_queue
from jobs.placement import job_runners_only
from jobs.queues import JobQueue
from jobs.reconcile import LOST, JobRows, JobState


class CheckJobs(JobRows):
    """Check runs, as the reconciler sees them."""

    def state(self, row: CheckRun) -> JobState:
        # A check run is its own run: claimed, it beats on its own row. One
        # waiting for the site's grader has no heartbeat until it is claimed.
        running = row.status == CheckStatus.RUNNING
        grading = row.status == CheckStatus.EVALUATING and row.heartbeat_at is not None
        held = (
            row.status == CheckStatus.QUEUED
            and row.enqueued_at is not None
            and job_runners_only(queue=JobQueue.CHECK)
        )
        return self.row_state(
            row,
            claimed=running,
            held=held,
            has_run=running or grading,
            heartbeat_at=row.heartbeat_at,
        )

    def enqueue(self, row: CheckRun) -> None:
        check_run_queue(check=row)

    def resend(self, row: CheckRun) -> None:
        check_run_queue(check=row, new_token=False)

    def requeue(self, row: CheckRun) -> None:
        if row.status == CheckStatus.EVALUATING:
            # Its grader was lost: the kept model is checked again.
            row.worker = ""
            row.heartbeat_at = None
            check_run_queue(check=row)
        else:
            self.retrain(row)

    def retrain(self, row: CheckRun) -> None:
        row.move_to(CheckStatus.QUEUED)
        row.log = ""
        row.worker = ""
        row.started_at = row.heartbeat_at = row.first_log_at = None
        check_run_queue(check=row)

    def cancel(self, row: CheckRun) -> None:
        row.finish(CheckStatus.CANCELLED, reason="Cancelled.")
        row.save(update_fields=["status", "reason", "finished_at"])

    def give_up(self, row: CheckRun, *, why: str) -> None:
        reason = WORKER_LOST if why == LOST else PLATFORM_FAULT.format(detail=why)
        row.finish(CheckStatus.ERROR, reason=reason)
        row.save(update_fields=["status", "reason", "finished_at", "attempts"])

    def running_on(self, worker: str) -> list[int]:
        running = CheckRun.objects.filter(
            status__in=WORKING_CHECK_STATUSES, worker=worker
        )
        return list(running.values_list("pk", flat=True))

    def runs_on(self, row: CheckRun, worker: str) -> bool:
        return row.status in WORKING_CHECK_STATUSES and row.worker == worker

    def after_pass(self) -> None:
        kept_models_sweep()


def kept_models_sweep() -> int:
    """Remove the models runner hosts trained for checks that are over; count.

    A model waits for the site's grader only while its check is active;
    whichever way the check then ends (checked, replaced, cancelled, given
    up), its folder goes on the next pass.
    """
    root = Path(settings.DOJO_ARTIFACT_ROOT) / "checks"
    if not root.is_dir():
        return 0
    kept = {p.name: p for p in root.iterdir() if p.name.isdigit()}
    active = CheckRun.objects.filter(
        pk__in=[int(name) for name in kept], status__in=ACTIVE_CHECK_STATUSES
    ).values_list("pk", flat=True)
    over = set(kept) - {str(pk) for pk in active}
    for name in over:
        shutil.rmtree(kept[name], ignore_errors=True)
    return len(over)


CHECK_JOBS = CheckJobs(
    name="check", model=CheckRun, active=ACTIVE_CHECK_STATUSES, related=("assignment",)
)
