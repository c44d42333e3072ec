"""The one queue writer: a job's row says it is due, then its message leaves.

Every kind of job is queued here: a submission's training and evaluation, a
check run, a "try your model" prediction. The row is written first: its
`job_token` (a new one, unless the same message is sent again), `enqueued_at`
and `sends`; the message leaves through the outbox only once the transaction
commits. Nothing is lost between the two: when the broker is away, the row
still says the job is due, and the reconciler sends it again after the backoff
(`jobs.policy`). What differs per kind (its task, queue and budget, how its row
is saved) comes in as arguments; this floor knows no kind.
"""

import datetime
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from jobs.outbox import outbox_send_on_commit
from jobs.placement import job_runners_only
from jobs.queues import JobTask

# A task's time limits only catch a stuck worker (the sandboxes enforce the
# job's real limits): Celery stops the task this long past its job's budget,
# softly first, then hard.
SOFT_MARGIN_SECONDS = 120
HARD_MARGIN_SECONDS = 180


@dataclass(frozen=True)
class JobMessage:
    """The message that runs one kind's job: its task, its queue, its limits."""

    task: JobTask
    queue: str
    # What the job's sandboxes may take in all; None leaves Celery's defaults.
    budget_seconds: float | None = None
    # A disposable job's window (`jobs.policy`): the broker drops it after.
    expires: datetime.datetime | None = None
    # Whether a runner host may take the job from the row instead: then a
    # queue only runners serve (DOJO_RUNNER_QUEUES) gets no message.
    runners_may_take: bool = True

    @property
    def disposable(self) -> bool:
        return self.expires is not None

    def options(self) -> dict[str, Any]:
        """Return the send's options: the task's time limits, its expiry."""
        options: dict[str, Any] = {}
        if self.budget_seconds is not None:
            options["soft_time_limit"] = self.budget_seconds + SOFT_MARGIN_SECONDS
            options["time_limit"] = self.budget_seconds + HARD_MARGIN_SECONDS
        if self.expires is not None:
            options["expires"] = self.expires
        return options


def job_queue(
    *,
    row: Any,
    message: JobMessage | None,
    new_token: bool = True,
    fresh: bool = False,
    save: Callable[[], None] | None = None,
) -> None:
    """Record on the job's `row` that its job is due; send `message` on commit.

    `new_token=False` sends the same message again: the first of the two to
    arrive runs the job, the other finds its claim taken. `fresh` starts a job
    of its own (a first training, a rerun, the evaluation after a training):
    its attempts and sends count from zero. `save` writes the row (a kind that
    moves its status passes its move), else `row.save()`.
    `message=None` holds the job (it waits its turn): `enqueued_at` empty,
    nothing sent or counted, until the kind queues it with the same token. A
    disposable job is sent once and never again: its row, just made, keeps its
    token and counts nothing.
    """
    if message is not None and message.disposable:
        _send(row, message)
        return
    if new_token:
        row.job_token = uuid.uuid4()
    if fresh:
        row.attempts = row.sends = 0
    row.enqueued_at = None if message is None else timezone.now()
    row.sends += 0 if message is None else 1
    (save or row.save)()
    if message is None:
        return
    if message.runners_may_take and job_runners_only(queue=message.queue):
        # A runner host takes it from the row (`runners`): no message is due.
        return
    _send(row, message)


def _send(row: Any, message: JobMessage) -> None:
    """Send the row's current job once the transaction commits."""
    outbox_send_on_commit(
        task=message.task,
        args=[row.pk, str(row.job_token)],
        queue=message.queue,
        **message.options(),
    )
