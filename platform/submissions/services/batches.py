"""Regrade batch completion: a batch is done once each of its submissions is."""

from django.utils import timezone

from submissions.models import RegradeBatch
from submissions.selectors import regrade_batch_progress


def regrade_batch_finish_if_done(*, batch_id: int) -> None:
    """Mark a running batch done once each of its submissions has finished."""
    batch = RegradeBatch.objects.filter(
        pk=batch_id, state=RegradeBatch.State.RUNNING
    ).first()
    if batch is not None:
        regrade_batch_maybe_finish(batch=batch)


def regrade_batch_maybe_finish(*, batch: RegradeBatch) -> None:
    """Mark the batch done if its progress says every submission is handled."""
    progress = regrade_batch_progress(batch=batch)
    if progress["done"] >= progress["total"]:
        RegradeBatch.objects.filter(
            pk=batch.pk, state=RegradeBatch.State.RUNNING
        ).update(state=RegradeBatch.State.DONE, finished_at=timezone.now())


def regrade_batches_finish() -> None:
    """Close batches whose last submission ended outside a worker (say, errored)."""
    running = RegradeBatch.objects.filter(state=RegradeBatch.State.RUNNING)
    for batch_id in running.values_list("pk", flat=True):
        regrade_batch_finish_if_done(batch_id=batch_id)
