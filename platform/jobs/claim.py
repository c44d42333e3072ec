"""The one claim: a worker takes a job only with its current token, once per attempt.

A message carries the row's id and job token. The claim locks the row; a
message whose token is not the row's current one (the job was replaced,
requeued or cancelled since) or a row that is no longer waiting for it is
stale, and nothing happens. Otherwise the claim counts an attempt (the retry
policy reads it) and the kind starts the job: its run row, its status, the
worker's name. The lease is the heartbeat that follows (`jobs.heartbeat`).
"""

import datetime
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import models, transaction

T = TypeVar("T")


def job_claim(
    *,
    lock: Callable[[], Any | None],
    token: str,
    claimable: Callable[[Any], bool],
    start: Callable[[Any], T],
) -> T | None:
    """Start the job if the message is current; return None for stale or duplicates."""
    with transaction.atomic():
        row = lock()
        if row is None or str(row.job_token) != token or not claimable(row):
            return None
        row.attempts += 1
        return start(row)


def job_claim_row(
    *,
    model: type[models.Model],
    pk: int,
    related: tuple[str, ...],
    token: str,
    claimable: Callable[[Any], bool],
    start: Callable[[Any], T],
) -> T | None:
    """`job_claim` of one row of `model` that carries its job: the row alone is
    locked (`of=self`), the rows it joins (`related`) only read with it."""
    rows = model.objects.select_for_update(of=("self",))
    if related:  # select_related() naming nothing would join every key
        rows = rows.select_related(*related)
    return job_claim(
        lock=lambda: rows.filter(pk=pk).first(),
        token=token,
        claimable=claimable,
        start=start,
    )


def job_row_started(row: Any, *, worker: str, now: datetime.datetime) -> None:
    """Save a claimed row's start: the status and start its kind set, the
    worker that runs it, its first beat, and the attempt the claim counted."""
    row.heartbeat_at = now
    row.worker = worker[:200]
    row.save(
        update_fields=["status", "started_at", "heartbeat_at", "worker", "attempts"]
    )
