"""Check runs under the one reconciler (`jobs.reconcile`).

A check run is its own job row: `queued` waits for its message, `running` is
claimed and beats. This module says what the invariant reads of one and how
it is sent again, run again or ended; the decisions are the reconciler's.
"""

from checks.feedback import PLATFORM_FAULT, WORKER_LOST
from checks.models import ACTIVE_CHECK_STATUSES, CheckRun, CheckStatus
from checks.services import check_run_queue
from jobs.reconcile import LOST, JobRows, JobState


class CheckJobs(JobRows):
    """Check runs, as the reconciler sees them."""

    def state(self, row: CheckRun) -> JobState:
        # A check run is its own run: claimed, it beats on its own row.
        running = row.status == CheckStatus.RUNNING
        return self.row_state(
            row, claimed=running, has_run=running, heartbeat_at=row.heartbeat_at
        )

    def enqueue(self, row: CheckRun) -> None:
        check_run_queue(check=row)

    def resend(self, row: CheckRun) -> None:
        check_run_queue(check=row, new_token=False)

    def requeue(self, row: CheckRun) -> None:
        row.move_to(CheckStatus.QUEUED)
        row.log = ""
        row.started_at = row.heartbeat_at = row.first_log_at = None
        check_run_queue(check=row)

    def cancel(self, row: CheckRun) -> None:
        row.finish(CheckStatus.CANCELLED, reason="Cancelled.")
        row.save(update_fields=["status", "reason", "finished_at"])

    def give_up(self, row: CheckRun, *, why: str) -> None:
        reason = WORKER_LOST if why == LOST else PLATFORM_FAULT.format(detail=why)
        row.finish(CheckStatus.ERROR, reason=reason)
        row.save(update_fields=["status", "reason", "finished_at"])

    def running_on(self, worker: str) -> list[int]:
        running = CheckRun.objects.filter(status=CheckStatus.RUNNING, worker=worker)
        return list(running.values_list("pk", flat=True))

    def runs_on(self, row: CheckRun, worker: str) -> bool:
        return row.status == CheckStatus.RUNNING and row.worker == worker


CHECK_JOBS = CheckJobs(
    name="check", model=CheckRun, active=ACTIVE_CHECK_STATUSES, related=("assignment",)
)
