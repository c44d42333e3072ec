"""The one reconciler: every active job has a live run or a message due.

The invariant, for every kind: an active job either has a claim for its
current token that beats (heartbeat younger than DOJO_HEARTBEAT_GRACE_SECONDS),
or waits for a message whose next send is due at `enqueued_at + backoff`
(`jobs.policy`). Any other state (a dead worker, a lost message, a run that
finished but whose result was never applied, a row claimed without a run) is
repaired here, one row at a time, in its own transaction: the message is sent
again, or the job is run again, or once its attempts are used up it ends
`error` (the platform's fault). A stopped worker's jobs are handed back the
same way, without using up an attempt. A disposable job (one with a window,
`JobState.expires_at`: a prediction) is never sent or run again: one still
waiting past its window, or whose worker was lost, ends `error` at once, and
its asker is told to try again.

A training handed back (its model could not be taken, by no fault of the
participant's: `job_training_hand_back`) runs again under the same policy.

A higher app registers each row that carries jobs as a `JobKind`: how to find
and lock its active rows, what the invariant reads of one, and how to send,
requeue, retrain, cancel or end it. The decisions are made here, once.
"""

import datetime
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs.policy import job_backoff, job_may_retry

logger = logging.getLogger(__name__)

UNAPPLIED = "the result of its last run was never applied"
LOST = "worker lost"
STOPPED = "stopped"
EXPIRED = "not claimed in its window"
# The status of every row whose trained model waits for, or is checked by, the
# site's grader (`transitions`): where a training is handed back from.
EVALUATING = "evaluating"


class TrainingHandBack(Exception):
    """A trained model cannot be taken, and not by the participant's doing (a
    host sent bytes other than those it announced): train it again
    (`job_training_hand_back`).

    `attempts` is how many claims the training had used, so the retry policy
    bounds the trainings again.
    """

    def __init__(self, reason: str, *, attempts: int) -> None:
        super().__init__(reason)
        self.attempts = attempts


@dataclass(frozen=True)
class JobState:
    """What the invariant reads of one active job (its kind builds it, row locked)."""

    created_at: datetime.datetime
    enqueued_at: datetime.datetime | None
    sends: int
    attempts: int
    received: bool = False  # accepted, never queued yet
    claimed: bool = False  # the row says a worker holds it
    held: bool = False  # waits its turn (fair share): no message is due
    cancel_requested: bool = False
    has_run: bool = False  # a claim exists for the current token
    heartbeat_at: datetime.datetime | None = None
    finished_at: datetime.datetime | None = None
    # A disposable job's window: nobody waits for it past this moment.
    expires_at: datetime.datetime | None = None

    @property
    def disposable(self) -> bool:
        return self.expires_at is not None


@dataclass(frozen=True)
class JobHealth:
    """Where a job stands against the invariant, and the repair it needs."""

    state: str  # "live", "due" (waiting, next send scheduled) or "broken"
    repair: str = ""  # "enqueue", "resend", "requeue", "expire" or "" when none
    why: str = ""


class JobKind(Protocol):
    """A row that carries jobs, as the reconciler sees it."""

    name: str

    def active_ids(self) -> list[int]: ...
    def lock(self, pk: int) -> Any | None: ...  # the locked row, if still active
    def state(self, row: Any) -> JobState: ...
    def enqueue(self, row: Any) -> None: ...  # first send of a received job
    def resend(self, row: Any) -> None: ...  # the same message again
    def requeue(self, row: Any) -> None: ...  # run again, new token
    def retrain(self, row: Any) -> None: ...  # train again from the start
    def cancel(self, row: Any) -> None: ...
    def give_up(self, row: Any, *, why: str) -> None: ...  # ends `error`
    def end_run(self, row: Any) -> None: ...  # close its open run as lost
    def running_on(self, worker: str) -> list[int]: ...
    def runs_on(self, row: Any, worker: str) -> bool: ...  # still, locked
    def after_pass(self) -> None: ...  # e.g. finish regrade batches


class JobRows:
    """The parts of a `JobKind` every row model shares: find and lock active rows.

    A kind names its `model` (its row), `active` (the statuses a job is in
    flight in) and `related` (what its repairs read with the row), and writes
    the rest.
    """

    def __init__(
        self, *, name: str, model: Any, active: tuple[str, ...], related: tuple = ()
    ) -> None:
        self.name, self.model, self.active, self.related = name, model, active, related

    def row_state(self, row: Any, **facts: Any) -> JobState:
        """Return the row's state: its own counts and times, and the kind's facts."""
        return JobState(
            created_at=row.created_at,
            enqueued_at=row.enqueued_at,
            sends=row.sends,
            attempts=row.attempts,
            **facts,
        )

    def active_ids(self) -> list[int]:
        rows = self.model.objects.filter(status__in=self.active)
        return list(rows.values_list("pk", flat=True))

    def lock(self, pk: int) -> Any | None:
        # The job's own row only: a joined row (its assignment) is read, never
        # locked, so jobs of one assignment and its editor never queue on it.
        rows = self.model.objects.select_for_update(of=("self",))
        if self.related:
            # select_related() naming nothing would join every key.
            rows = rows.select_related(*self.related)
        row = rows.filter(pk=pk).first()
        return row if row is not None and row.status in self.active else None

    def end_run(self, row: Any) -> None:
        """A row that is its own run has none to end: requeue or give_up does."""

    def retrain(self, row: Any) -> None:
        """A kind whose every requeue starts from its training runs it so."""
        self.requeue(row)

    def after_pass(self) -> None:
        """Nothing waits on a pass over this kind."""


_kinds: dict[str, JobKind] = {}


def job_kind_register(kind: JobKind) -> None:
    """Put a row that carries jobs under the one reconciler."""
    _kinds[kind.name] = kind


def job_kinds() -> list[JobKind]:
    return list(_kinds.values())


def job_health(*, job: JobState, now: datetime.datetime) -> JobHealth:
    """Say whether an active job satisfies the invariant at `now`."""
    grace = datetime.timedelta(seconds=settings.DOJO_HEARTBEAT_GRACE_SECONDS)
    if job.disposable:
        return _disposable_health(job=job, now=now, grace=grace)
    if job.received:
        waited = now - job.created_at
        if waited.total_seconds() > settings.DOJO_REQUEUE_AFTER_SECONDS:
            return JobHealth("broken", "enqueue", why="never queued")
        return JobHealth("due")
    if not job.has_run:
        if job.claimed:
            # Claimed without a run: no worker holds it, and no message can
            # claim it (a claim expects it queued).
            return JobHealth("broken", "requeue", why="claimed without a run")
        if job.held:
            return JobHealth("due", why="held for fair share")
        if job.enqueued_at is None:
            return JobHealth("broken", "resend", why="no message was ever sent")
        if now - job.enqueued_at > job_backoff(sends=job.sends):
            return JobHealth("broken", "resend", why="message overdue")
        return JobHealth("due")
    if job.finished_at is None:
        if job.heartbeat_at is None or now - job.heartbeat_at > grace:
            return JobHealth("broken", "requeue", why=LOST)
        return JobHealth("live")
    if now - job.finished_at > grace:
        return JobHealth("broken", "requeue", why=UNAPPLIED)
    # Finished moments ago: its worker is applying the result now.
    return JobHealth("live")


def _disposable_health(
    *, job: JobState, now: datetime.datetime, grace: datetime.timedelta
) -> JobHealth:
    """A disposable job waits only for its window; its message is never resent
    (it expires with the window), so one unclaimed past it is over. Claimed,
    it is lost when its heartbeat is stale, but never before its window ends:
    a predictor that starts cold may work longer than the grace."""
    if not job.has_run:
        if now > job.expires_at:
            return JobHealth("broken", "expire", why=EXPIRED)
        return JobHealth("due")
    last = job.finished_at or job.heartbeat_at
    if (last is None or now - last > grace) and now > job.expires_at:
        return JobHealth(
            "broken", "requeue", why=UNAPPLIED if job.finished_at else LOST
        )
    return JobHealth("live")


def job_requeue(*, kind: JobKind, row: Any, why: str, retrain: bool = False) -> str:
    """Run a broken job again (from its training, with `retrain`), or end it
    once its attempts are used up."""
    kind.end_run(row)
    job = kind.state(row)
    if job.cancel_requested:
        kind.cancel(row)
        return "cancelled"
    if job_may_retry(attempts=job.attempts, disposable=job.disposable):
        (kind.retrain if retrain else kind.requeue)(row)
        return "requeued"
    kind.give_up(row, why=why)
    return "errored"


def job_training_hand_back(
    *, kind: JobKind, pk: int, job_token: str, back: TrainingHandBack
) -> str | None:
    """Train a job again whose trained model could not be taken, by no fault
    of the participant's (`back` says why).

    `job_token` is the evaluation's that found it out; a job that moved on
    meanwhile (another token, no longer evaluating) is left alone (None). The
    training runs again while the job has used fewer than DOJO_MAX_ATTEMPTS
    claims (`back.attempts` so far), as a lost worker's would; else it ends
    `error` (the platform's fault, the reason quoted), never `failed`.
    """
    logger.warning("%s %s: training handed back: %s", kind.name, pk, back)
    with transaction.atomic():
        row = kind.lock(pk)
        if row is None or str(row.job_token) != job_token or row.status != EVALUATING:
            return None
        row.attempts = back.attempts
        return job_requeue(kind=kind, row=row, why=str(back), retrain=True)


def _repair(kind: JobKind, row: Any, now: datetime.datetime) -> str | None:
    health = job_health(job=kind.state(row), now=now)
    if health.state != "broken":
        return None
    logger.warning("Reconciling %s %s: %s", kind.name, row.pk, health.why)
    if health.repair == "enqueue":
        kind.enqueue(row)
        return "enqueued"
    if health.repair == "resend":
        kind.resend(row)
        return "resent"
    if health.repair == "expire":
        kind.give_up(row, why=health.why)
        return "errored"
    return job_requeue(kind=kind, row=row, why=health.why)


def jobs_reconcile() -> dict[str, int]:
    """Repair every active job of every kind that breaks the invariant; count.

    A row that cannot be repaired now (say, the database dropped the
    connection) is logged and retried on the next pass, and never stops the
    others.
    """
    now = timezone.now()
    counts: Counter[str] = Counter(
        {"enqueued": 0, "resent": 0, "requeued": 0, "errored": 0, "cancelled": 0}
    )
    for kind in job_kinds():
        for pk in kind.active_ids():
            try:
                with transaction.atomic():
                    row = kind.lock(pk)
                    if row is not None and (action := _repair(kind, row, now)):
                        counts[action] += 1
            except Exception:
                logger.exception("Could not reconcile %s %s", kind.name, pk)
                counts["failed"] += 1
        kind.after_pass()
    return dict(counts)


def jobs_hand_back(*, worker: str) -> int:
    """Requeue the jobs of every kind a stopped worker was running; say how many.

    Used when the operator stops the site: the interruption is nobody's
    fault, so it does not use up one of the job's attempts.
    """
    handed = 0
    for kind in job_kinds():
        for pk in kind.running_on(worker):
            with transaction.atomic():
                row = kind.lock(pk)
                if row is None or not kind.runs_on(row, worker):
                    continue
                row.attempts = max(0, row.attempts - 1)
                job_requeue(kind=kind, row=row, why=STOPPED)
                handed += 1
        kind.after_pass()
    return handed
