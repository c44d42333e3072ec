"""Heartbeats: keep a job's runs alive while its sandbox works, notice cancels."""

import logging
import time
from collections.abc import Callable, Sequence

from django.conf import settings
from django.db import connection
from django.utils import timezone

from submissions.models import Run, Submission
from submissions.services.dbconn import DB_GONE
from workers import sandbox

logger = logging.getLogger(__name__)


def _beat_write(write: Callable[[], object], default: object = None) -> object:
    """Run one heartbeat query; a missed beat is retried once, never fatal."""
    for last in (False, True):
        try:
            return write()
        except DB_GONE:
            connection.close()
            if last:
                logger.warning("Heartbeat missed: the database is unreachable")
    return default


class Heartbeat:
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
        self.cancellable = cancellable
        self.run_pks = [run.pk for run in runs]
        self.log_pk = (log_run or runs[0]).pk
        self.submission_pks = sorted({run.submission_id for run in runs})
        self.last_beat = 0.0
        self.last_cancel_check = 0.0

    def beat(self) -> None:
        """Touch every open run's heartbeat."""
        _beat_write(
            lambda: Run.objects.filter(
                pk__in=self.run_pks, finished_at__isnull=True
            ).update(heartbeat_at=timezone.now())
        )
        self.last_beat = time.monotonic()

    def on_log(self, log: str) -> None:
        """Store the log so far on the log run, and beat."""
        now = timezone.now()
        text = sandbox.neutralise(log)
        _beat_write(
            lambda: Run.objects.filter(pk=self.log_pk).update(
                log=text, heartbeat_at=now
            )
        )
        others = [pk for pk in self.run_pks if pk != self.log_pk]
        if others:
            _beat_write(
                lambda: Run.objects.filter(
                    pk__in=others, finished_at__isnull=True
                ).update(heartbeat_at=now)
            )
        self.last_beat = time.monotonic()

    def should_cancel(self) -> bool:
        """Beat when due; say whether a cancel was asked (checked twice a second)."""
        now = time.monotonic()
        if now - self.last_beat > settings.DOJO_LOG_FLUSH_SECONDS * 2:
            self.beat()
        if not self.cancellable or now - self.last_cancel_check < 0.5:
            return False
        self.last_cancel_check = now
        return bool(
            _beat_write(
                lambda: Submission.objects.filter(
                    pk__in=self.submission_pks, cancel_requested=True
                ).exists(),
                default=False,
            )
        )
