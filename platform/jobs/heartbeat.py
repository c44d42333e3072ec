"""The heartbeat of every kind of job: keep it alive, store its log, notice cancels.

A kind says what a beat writes (`touch`) and how a cancel shows
(`cancel_asked`); the cadence and the tolerance for a database cut are here:
a missed beat is retried once, never fatal, and the reconciler only declares
a job lost after DOJO_HEARTBEAT_GRACE_SECONDS without one.
"""

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.utils import timezone

from jobs.dbconn import DB_GONE

logger = logging.getLogger(__name__)

# How often a cancel request is looked for, in seconds.
CANCEL_CHECK_SECONDS = 0.5


def beat_write(write: Callable[[], object], default: object = None) -> object:
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
    """Beat while a sandbox works, stream its log, say when a cancel was asked."""

    def __init__(self, *, cancellable: bool = True) -> None:
        self.cancellable = cancellable
        self.last_beat = 0.0
        self.last_cancel_check = 0.0

    def touch(self, *, now: object, log: str | None) -> None:
        """Write one beat at `now`, with the log so far when there is one."""
        raise NotImplementedError

    def cancel_asked(self) -> bool:
        """Say whether the job was cancelled (or replaced) meanwhile."""
        return False

    def beat(self) -> None:
        """Write a beat without a log."""
        now = timezone.now()
        beat_write(lambda: self.touch(now=now, log=None))
        self.last_beat = time.monotonic()

    def on_log(self, log: str) -> None:
        """Store the log so far, and beat."""
        now = timezone.now()
        beat_write(lambda: self.touch(now=now, log=log))
        self.last_beat = time.monotonic()

    def should_cancel(self) -> bool:
        """Beat when due; say whether a cancel was asked (checked twice a second)."""
        now = time.monotonic()
        if now - self.last_beat > settings.DOJO_LOG_FLUSH_SECONDS * 2:
            self.beat()
        if not self.cancellable or now - self.last_cancel_check < CANCEL_CHECK_SECONDS:
            return False
        self.last_cancel_check = now
        return bool(beat_write(self.cancel_asked, default=False))
