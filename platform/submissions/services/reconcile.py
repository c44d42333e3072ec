"""A submission's jobs under the one reconciler (`jobs.reconcile`).

An active submission (`received`, `queued`, `training`, `evaluating`) carries
one job at a time: its training or its evaluation (a regrade's too). This
module says what the invariant reads of it and how it is sent, run again or
ended; the decisions are the reconciler's.
"""

import datetime

from django.utils import timezone

from jobs.placement import job_runners_only
from jobs.reconcile import LOST, JobHealth, JobRows, JobState, job_health
from submissions.models import ACTIVE_STATUSES, Run, Status, Submission
from submissions.services.batches import regrade_batches_finish
from submissions.services.fairness import fair_is_held
from submissions.services.jobs import job_queue
from submissions.services.moves import PLATFORM_FAULT, WORKER_LOST, submission_move


def _kind(submission: Submission) -> str:
    """Return the kind of job an active submission waits for or runs."""
    if submission.status == Status.EVALUATING:
        return Run.Kind.EVALUATE
    return Run.Kind.TRAIN


def _run(submission: Submission) -> Run | None:
    return Run.objects.filter(
        submission=submission, job_token=submission.job_token, kind=_kind(submission)
    ).first()


class SubmissionJobs(JobRows):
    """The training and evaluation jobs of submissions, as the reconciler sees them."""

    def state(self, row: Submission) -> JobState:
        run = _run(row) if row.status != Status.RECEIVED else None
        # Waiting its turn (fair share), or for a runner host to take it from
        # the row: either way no message is due.
        held = (
            row.status == Status.QUEUED
            and run is None
            and (
                fair_is_held(submission=row)
                or (
                    row.enqueued_at is not None
                    and job_runners_only(queue=row.assignment.train_queue)
                )
            )
        )
        return self.row_state(
            row,
            received=row.status == Status.RECEIVED,
            claimed=row.status == Status.TRAINING,
            held=held,
            cancel_requested=row.cancel_requested,
            has_run=run is not None,
            heartbeat_at=run.heartbeat_at if run else None,
            finished_at=run.finished_at if run else None,
        )

    def enqueue(self, row: Submission) -> None:
        job_queue(submission=row, kind=Run.Kind.TRAIN, status=Status.QUEUED)

    def resend(self, row: Submission) -> None:
        job_queue(submission=row, kind=_kind(row), new_token=False)

    def requeue(self, row: Submission) -> None:
        if row.status == Status.EVALUATING:
            job_queue(submission=row, kind=Run.Kind.EVALUATE)
        else:
            self.retrain(row)

    def retrain(self, row: Submission) -> None:
        job_queue(submission=row, kind=Run.Kind.TRAIN, status=Status.QUEUED)

    def cancel(self, row: Submission) -> None:
        submission_move(submission=row, status=Status.CANCELLED, reason="Cancelled.")

    def give_up(self, row: Submission, *, why: str) -> None:
        reason = WORKER_LOST if why == LOST else PLATFORM_FAULT.format(detail=why)
        submission_move(submission=row, status=Status.ERROR, reason=reason)

    def end_run(self, row: Submission) -> None:
        run = _run(row)
        if run is not None and run.finished_at is None:
            run.finished_at = timezone.now()
            run.outcome = Run.Outcome.WORKER_LOST
            run.save(update_fields=["finished_at", "outcome"])

    def running_on(self, worker: str) -> list[int]:
        open_runs = Run.objects.filter(worker=worker, finished_at__isnull=True)
        return sorted(set(open_runs.values_list("submission_id", flat=True)))

    def runs_on(self, row: Submission, worker: str) -> bool:
        return Run.objects.filter(
            submission=row,
            job_token=row.job_token,
            worker=worker,
            finished_at__isnull=True,
        ).exists()

    def after_pass(self) -> None:
        regrade_batches_finish()


SUBMISSION_JOBS = SubmissionJobs(
    name="submission", model=Submission, active=ACTIVE_STATUSES, related=("assignment",)
)


def submission_health(*, submission: Submission, now: datetime.datetime) -> JobHealth:
    """Say whether an active submission satisfies the invariant at `now`."""
    return job_health(job=SUBMISSION_JOBS.state(submission), now=now)
