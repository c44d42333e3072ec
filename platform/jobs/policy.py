"""The one retry policy of every kind of job.

A message not answered is sent again (same token) after a backoff that
doubles with each send; a job whose worker was lost is run again (a new
token) while it has used fewer than DOJO_MAX_ATTEMPTS claims, then ends
`error`, the platform's fault. A disposable job (a prediction: its asker waits
a few seconds, then asks again) is never sent or run again: it ends `error`
with a reason that says to try again.
"""

import datetime

from django.conf import settings
from django.db import InterfaceError, OperationalError


def job_backoff(*, sends: int) -> datetime.timedelta:
    """Return how long a sent message may wait before it is sent again."""
    seconds = settings.DOJO_REQUEUE_AFTER_SECONDS * 2 ** min(sends, 5)
    return datetime.timedelta(seconds=seconds)


def job_may_retry(*, attempts: int, disposable: bool = False) -> bool:
    """Say whether a job that used `attempts` claims may be claimed again."""
    return not disposable and attempts < settings.DOJO_MAX_ATTEMPTS


# Celery's retry of every job task: only infrastructure faults (the database
# went away), never a participant's failing code, which is a result.
TASK_RETRY = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 2,
    "max_retries": 3,
    "acks_late": True,
}
