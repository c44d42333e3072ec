"""The one job lifecycle shared by training, evaluation and regrades.

A job is a submission's current `job_token` plus a kind (train or evaluate). It
is queued (the row says it is due, then a message is sent after commit),
claimed by a worker (a `Run` row, at most one per token and kind), kept alive
by a heartbeat, recorded when its sandbox ends, and finished: its result is
applied unless the submission moved on meanwhile. Every status change goes
through `submission_move`, or `job_queue` when it queues a job.
"""

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from submissions.models import Run, Status, Submission
from submissions.outbox import outbox_send_on_commit
from submissions.queues import JobQueue, JobTask
from submissions.services.batches import regrade_batch_finish_if_done
from workers import sandbox

logger = logging.getLogger(__name__)

PLATFORM_FAULT = (
    "The platform could not run your submission ({detail}). This is not your "
    "fault and does not count against your limit; it will be looked at."
)
WORKER_LOST = (
    "The worker running your submission stopped before it finished. This is the "
    "platform's fault, not yours: submit again, it does not count against your limit."
)


def submission_move(*, submission: Submission, status: str, reason: str = "") -> None:
    """Move a locked submission to a new status and save it."""
    submission.move_to(status, reason=reason)
    submission.save()


def job_message(*, submission: Submission, kind: str) -> dict:
    """Return the message that runs the submission's current job."""
    if kind == Run.Kind.TRAIN:
        task, queue = JobTask.TRAIN, submission.assignment.train_queue
        budget = submission.assignment.wall_seconds
    else:
        task, queue = JobTask.EVALUATE, JobQueue.EVALUATE.value
        budget = settings.DOJO_EVAL_WALL_SECONDS
    # The sandbox enforces the real limit; these only catch a stuck worker.
    return {
        "task": task,
        "args": [submission.pk, str(submission.job_token)],
        "queue": queue,
        "soft_time_limit": budget + 120,
        "time_limit": budget + 180,
    }


def job_queue(
    *,
    submission: Submission,
    kind: str,
    status: str | None = None,
    new_token: bool = True,
) -> None:
    """Record that a job is due (moving to `status`), send it after commit."""
    if status is not None:
        submission.move_to(status)
    if new_token:
        submission.job_token = uuid.uuid4()
    submission.enqueued_at = timezone.now()
    submission.sends += 1
    submission.save()
    # The row says the job is due; if the send fails, the reconciler resends.
    outbox_send_on_commit(**job_message(submission=submission, kind=kind))


def job_claim(
    *,
    submission_id: int,
    job_token: str,
    kind: str,
    expect: str,
    worker: str,
    queue: str,
) -> Run | None:
    """Start the job if the message is current; return None for stale or duplicates."""
    with transaction.atomic():
        submission = (
            Submission.objects.select_for_update().filter(pk=submission_id).first()
        )
        if (
            submission is None
            or str(submission.job_token) != job_token
            or submission.status != expect
            or Run.objects.filter(job_token=job_token, kind=kind).exists()
        ):
            return None
        submission.attempts += 1
        if kind == Run.Kind.TRAIN:
            submission_move(submission=submission, status=Status.TRAINING)
        else:
            submission.save()
        return run_start(submission=submission, kind=kind, queue=queue, worker=worker)


def run_start(*, submission: Submission, kind: str, queue: str, worker: str) -> Run:
    """Record that a worker started the submission's current job."""
    return Run.objects.create(
        submission=submission,
        kind=kind,
        job_token=submission.job_token,
        queue=queue,
        worker=worker,
        host=worker.rpartition("@")[2] or worker,
        keras_backend=settings.DOJO_KERAS_BACKEND,
        sandbox_backend=settings.DOJO_SANDBOX_BACKEND,
    )


DB_GONE = (OperationalError, InterfaceError)


def db_reconnect_if_cut() -> None:
    """Replace a connection the database cut (a restart, pg_terminate_backend).

    Django reconnects only between requests; a job outlives many of those
    moments, so it checks before each write that matters.
    """
    if connection.in_atomic_block:
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DB_GONE:
        connection.close()


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


def sandbox_env() -> dict[str, str]:
    """Return the environment every sandboxed job starts from."""
    return {
        "KERAS_BACKEND": settings.DOJO_KERAS_BACKEND,
        "PYTHONUNBUFFERED": "1",
        "MPLBACKEND": "Agg",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }


def sandbox_limits(*, submission: Submission) -> sandbox.SandboxLimits:
    """Return the assignment's limits for one training job."""
    assignment = submission.assignment
    return sandbox.SandboxLimits(
        wall_seconds=assignment.wall_seconds,
        cpu_seconds=assignment.cpu_seconds,
        memory_bytes=assignment.memory_mb * 1024 * 1024,
    )


def _slot() -> int:
    """Return this pool process's slot (Celery's child index)."""
    from billiard.process import current_process

    return getattr(current_process(), "index", 0) or 0


def _placement() -> sandbox.HostPlan:
    """Return the plan the worker made at start (or, outside a worker, make one)."""
    return sandbox.current_host_plan() or sandbox.host_prepare(
        backend=settings.DOJO_SANDBOX_BACKEND,
        gpu_device=settings.DOJO_GPU_DEVICE,
        slots=settings.DOJO_GPU_SLOTS,
        keras_backend=settings.DOJO_KERAS_BACKEND,
        uid_base=settings.DOJO_SANDBOX_UID,
        probe=False,
    )


def job_sandbox_run(
    *,
    run: Run,
    argv: list[str],
    work: Path,
    binds: list[sandbox.Bind],
    env: dict[str, str],
    limits: sandbox.SandboxLimits,
) -> sandbox.SandboxResult:
    """Run one job's command in the sandbox, with heartbeats, in the run's slot.

    The worker's host plan gives the slot its uid, and on a GPU queue its device
    nodes, MPS pipe and GPU memory share.
    """
    heartbeat = Heartbeat([run])
    plan = _placement()
    place = plan.place(_slot(), gpu=run.queue == JobQueue.TRAIN_GPU)
    run.slot, run.isolation = place.slot, plan.describe()[:200]
    run.save(update_fields=["slot", "isolation"])
    return sandbox.run(
        argv,
        work_dir=work,
        binds=[*binds, *place.binds],
        env={**env, **place.env},
        limits=limits,
        backend=settings.DOJO_SANDBOX_BACKEND,
        on_log=heartbeat.on_log,
        log_interval=settings.DOJO_LOG_FLUSH_SECONDS,
        should_cancel=heartbeat.should_cancel,
        devices=place.devices,
        chdir=str(work),
        uid=place.uid,
    )


def run_record(
    *, run: Run, result: sandbox.SandboxResult, log: str | None = None
) -> None:
    """Store how a run's sandbox ended and what it used."""
    db_reconnect_if_cut()
    run.finished_at = timezone.now()
    run.exit_code = result.exit_code
    run.outcome = Run.Outcome(str(result.outcome))
    run.duration_seconds = result.wall_seconds
    run.cpu_seconds = result.cpu_seconds
    run.peak_memory_bytes = result.peak_memory_bytes
    run.log = sandbox.neutralise(result.log if log is None else log)
    run.log_truncated = result.log_truncated
    run.sandbox_backend = result.backend
    # All but the heartbeat: it was written meanwhile, and its value there is newer.
    run.save(
        update_fields=[
            field.name
            for field in Run._meta.concrete_fields
            if field.name not in ("id", "heartbeat_at")
        ]
    )


def job_finish(*, run: Run, finish: Callable[[Submission], None]) -> None:
    """Apply a job's result unless the submission has moved on meanwhile.

    A result that cannot be applied ends the submission `error` instead of
    leaving it active; when the database itself is gone, the reconciler
    repairs the row later (a finished run whose result was never applied).
    """
    db_reconnect_if_cut()
    try:
        _apply_retrying(run, finish)
    except (OperationalError, InterfaceError):
        raise
    except Exception as exc:
        logger.exception("Could not apply the result of run %s", run.pk)
        detail = f"its result was unusable: {exc}"

        def fail(submission: Submission) -> None:
            submission_move(
                submission=submission,
                status=Status.ERROR,
                reason=PLATFORM_FAULT.format(detail=detail),
            )

        _apply_retrying(run, fail)


# Deadlock and serialization failure: the transaction may simply be run again.
RETRY_SQLSTATES = frozenset({"40P01", "40001"})


def db_retryable(exc: BaseException) -> bool:
    """Say whether the database aborted a transaction that may be run again."""
    return (
        isinstance(exc, OperationalError)
        and getattr(exc.__cause__, "sqlstate", None) in RETRY_SQLSTATES
        and not connection.in_atomic_block
    )


def _apply_retrying(run: Run, finish: Callable[[Submission], None]) -> None:
    """Apply a result; a transaction aborted as a deadlock is run again."""
    for attempt in (1, 2, 3):
        try:
            return _apply(run, finish)
        except OperationalError as exc:
            if attempt == 3 or not db_retryable(exc):
                raise
            logger.warning("Result of run %s retried: %s", run.pk, exc)


def _apply(run: Run, finish: Callable[[Submission], None]) -> None:
    with transaction.atomic():
        submission = (
            Submission.objects.select_for_update()
            .select_related("assignment")
            .get(pk=run.submission_id)
        )
        if submission.job_token != run.job_token or not submission.is_active:
            return
        if submission.cancel_requested:
            submission_move(
                submission=submission,
                status=Status.CANCELLED,
                reason="Cancelled while it ran.",
            )
        else:
            finish(submission)
        if submission.batch_id and not submission.is_active:
            transaction.on_commit(
                lambda: regrade_batch_finish_if_done(batch_id=submission.batch_id)
            )


def job_platform_error(*, run: Run, exc: Exception) -> None:
    """End a run the platform failed, and its submission `error` (refunded)."""
    logger.exception("Run %s failed on the platform side", run.pk)
    run.finished_at = timezone.now()
    run.outcome = Run.Outcome.PLATFORM_ERROR
    run.log = sandbox.neutralise(f"{run.log}\n[dojo] platform error: {exc}")
    run.save(update_fields=["finished_at", "outcome", "log"])

    def finish(submission: Submission) -> None:
        submission_move(
            submission=submission,
            status=Status.ERROR,
            reason=PLATFORM_FAULT.format(detail=exc),
        )

    job_finish(run=run, finish=finish)
