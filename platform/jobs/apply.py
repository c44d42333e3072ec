"""The one place a job's outcome is applied: the applier its kind registered.

A higher app registers, when it is ready, how an outcome of each of its kinds
becomes a status (submissions: the training and evaluation appliers; checks:
the check-result applier). `job_apply` gives every kind the same care: a
transaction aborted as a deadlock is run again, and an outcome that cannot be
applied ends the job `error` instead of leaving it active. When the database
itself is gone, the reconciler repairs the row later.
"""

import logging
from collections.abc import Callable

from django.db import OperationalError

from jobs.dbconn import DB_GONE, db_reconnect_if_cut, db_retryable
from jobs.outcome import JobOutcome

logger = logging.getLogger(__name__)

# (the job: whatever its kind hands over, its outcome) -> None; locks its row.
Applier = Callable[[object, JobOutcome], None]

_appliers: dict[str, Applier] = {}


def job_applier_register(*, kind: str, applier: Applier) -> None:
    """Make `applier` the one way an outcome of `kind` is applied."""
    _appliers[kind] = applier


def job_apply(*, kind: str, job: object, outcome: JobOutcome) -> None:
    """Apply how a job of `kind` ended, through its kind's applier."""
    applier = _appliers[kind]
    db_reconnect_if_cut()
    try:
        _apply_retrying(applier, job, outcome)
    except DB_GONE:
        raise
    except Exception as exc:
        logger.exception("Could not apply the result of %s job %s", kind, job)
        detail = f"its result was unusable: {exc}"
        _apply_retrying(applier, job, JobOutcome.error(detail=detail))


def _apply_retrying(applier: Applier, job: object, outcome: JobOutcome) -> None:
    for attempt in (1, 2, 3):
        try:
            return applier(job, outcome)
        except OperationalError as exc:
            if attempt == 3 or not db_retryable(exc):
                raise
            logger.warning("Result of job %s retried: %s", job, exc)
