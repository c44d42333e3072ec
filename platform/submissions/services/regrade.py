"""Batch regrades: re-evaluate stored models (or retrain) for many submissions."""

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from jobs.outbox import outbox_send_on_commit
from jobs.placement import chunk_max_models
from jobs.queues import JobQueue, JobTask
from submissions.models import FINAL_STATUSES, RegradeBatch, Run, Status, Submission
from submissions.selectors import run_latest_model, submissions_graded_before_version
from submissions.services.batches import regrade_batch_maybe_finish
from submissions.services.grading import evaluation_inputs
from submissions.services.jobs import job_claim_regrade
from submissions.services.lifecycle import submission_cancel, submission_rerun
from submissions.services.reevaluate import chunk_reevaluate
from workshops.models import Assignment


def chunk_size(total: int) -> int:
    """Split a batch into about ten chunks of at least 10 models.

    Each chunk starts TensorFlow once (seconds) unless the slot's warm
    evaluator waits for it, so chunks are large; ten of them still move the
    progress bar in visible steps. None holds more than ``chunk_max_models``,
    so every chunk's budget ends before its task's soft time limit.
    """
    return min(chunk_max_models(), max(10, -(-total // 10)))


SELECTIONS = ("all", "failed", "selected", "older")


def regrade_batch_create(
    *,
    assignment: Assignment,
    mode: str,
    selection: str = "all",
    submission_ids: list[int] | None = None,
    created_by: AbstractUser | None = None,
) -> RegradeBatch:
    """Start a regrade of an assignment's finished submissions, in chunks."""
    if mode not in RegradeBatch.Mode.values:
        raise ValidationError(f"Unknown regrade mode “{mode}”.")
    if selection not in SELECTIONS:
        raise ValidationError(f"Unknown selection “{selection}”.")
    # A reference run is validated again from the validation page, not regraded.
    chosen = Submission.objects.filter(
        assignment=assignment, status__in=FINAL_STATUSES, reference=False
    )
    if mode == RegradeBatch.Mode.REEVALUATE:
        # A participant who cancelled stopped that submission: re-evaluating it
        # would bring it back (and cancelled -> evaluating is no legal move).
        chosen = chosen.exclude(status=Status.CANCELLED)
    if selection == "failed":
        chosen = chosen.filter(status__in=(Status.FAILED, Status.ERROR))
    elif selection == "older":
        # After a new version: those graded under an older one, as counted.
        chosen = chosen & submissions_graded_before_version(assignment=assignment)
    elif selection == "selected":
        if not submission_ids:
            raise ValidationError("Select at least one submission to regrade.")
        chosen = chosen.filter(pk__in=submission_ids)
    ids = list(chosen.order_by("pk").values_list("pk", flat=True))
    if not ids:
        raise ValidationError(
            "No finished submission matches; nothing to regrade. Running ones "
            "are left alone."
        )
    with transaction.atomic():
        batch = RegradeBatch.objects.create(
            assignment=assignment, mode=mode, submission_ids=ids, created_by=created_by
        )
        Submission.objects.filter(pk__in=ids).update(batch=batch)
        queue = (
            JobQueue.EVALUATE if mode == RegradeBatch.Mode.REEVALUATE else JobQueue.SITE
        ).value
        size = chunk_size(len(ids))
        for start in range(0, len(ids), size):
            chunk = ids[start : start + size]
            outbox_send_on_commit(
                task=JobTask.REGRADE_CHUNK, args=[batch.pk, chunk], queue=queue
            )
    return batch


def regrade_batch_cancel(*, batch: RegradeBatch) -> None:
    """Stop what has not started; finished regrades and old grades stay."""
    with transaction.atomic():
        batch = RegradeBatch.objects.select_for_update().get(pk=batch.pk)
        if batch.state != RegradeBatch.State.RUNNING:
            return
        batch.state = RegradeBatch.State.CANCELLED
        batch.finished_at = timezone.now()
        batch.save()
    if batch.mode == RegradeBatch.Mode.RERUN:
        for submission in Submission.objects.filter(batch=batch, status=Status.QUEUED):
            submission_cancel(submission=submission)


def regrade_claim(
    *, batch: RegradeBatch, submission_id: int, worker: str
) -> tuple[Submission, Run, dict] | None:
    """Claim one submission of the batch for re-evaluation, with its grader inputs."""
    submission = Submission.objects.filter(pk=submission_id).first()
    model_run = submission and run_latest_model(submission=submission)
    run = job_claim_regrade(
        submission_id=submission_id,
        batch_id=batch.pk,
        has_model=model_run is not None,
        worker=worker,
    )
    if run is None:
        return None
    return (
        run.submission,
        run,
        evaluation_inputs(submission=run.submission, model_run=model_run),
    )


def regrade_batch_run_chunk(
    *, batch_id: int, submission_ids: list[int], worker: str
) -> None:
    """Run one chunk of a batch: rerun each, or re-evaluate each stored model."""

    batch = RegradeBatch.objects.get(pk=batch_id)
    if batch.state != RegradeBatch.State.RUNNING:
        return
    if batch.mode == RegradeBatch.Mode.RERUN:
        for submission in Submission.objects.filter(
            pk__in=submission_ids, batch=batch, status__in=FINAL_STATUSES
        ):
            submission_rerun(submission=submission)
        regrade_batch_maybe_finish(batch=batch)
        return
    claimed = [
        c
        for sid in submission_ids
        if (c := regrade_claim(batch=batch, submission_id=sid, worker=worker))
        is not None
    ]
    if not claimed:
        regrade_batch_maybe_finish(batch=batch)
        return
    chunk_reevaluate(claimed=claimed, name=f"regrade-{batch.pk}-{claimed[0][1].pk}")
    regrade_batch_maybe_finish(batch=batch)
