"""A submission job's heartbeat: its runs' rows (see `jobs.heartbeat`)."""

from collections.abc import Sequence

from jobs.heartbeat import Heartbeat as JobHeartbeat
from submissions.models import Run, Submission
from workers import sandbox


class Heartbeat(JobHeartbeat):
    """Keep runs alive while a sandbox works, stream its log, notice cancellation.

    One heartbeat covers every run of a chunk: each beat touches all of them
    that are still open, so none is declared lost while it waits its turn.
    """

    def __init__(
        self,
        runs: Sequence[Run],
        *,
        log_run: Run | None = None,
        cancellable: bool = True,
    ) -> None:
        super().__init__(cancellable=cancellable)
        self.run_pks = [run.pk for run in runs]
        self.log_pk = (log_run or runs[0]).pk
        self.submission_pks = sorted({run.submission_id for run in runs})

    def touch(self, *, now: object, log: str | None) -> None:
        others = self.run_pks
        if log is not None:
            Run.objects.filter(pk=self.log_pk).update(
                log=sandbox.neutralise(log), heartbeat_at=now
            )
            others = [pk for pk in self.run_pks if pk != self.log_pk]
        if others:
            Run.objects.filter(pk__in=others, finished_at__isnull=True).update(
                heartbeat_at=now
            )

    def cancel_asked(self) -> bool:
        return Submission.objects.filter(
            pk__in=self.submission_pks, cancel_requested=True
        ).exists()
