"""Writes on check runs: start one (replacing the running one), resend, reconcile.

A check run is a short training of a draft on the check slice, with the
submission's structural checks and an indicative accuracy on a public sample.
It never counts against the daily submission limit; it has its own limits: one
active check per participant (a new one replaces it) and a rate per minute.
"""

import datetime
import hashlib
import uuid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from checks.models import ACTIVE_CHECK_STATUSES, CheckRun, CheckStatus
from submissions.outbox import JobQueue, JobTask, outbox_send_on_commit
from submissions.sourcetext import source_text_check
from workshops.models import Assignment, Enrollment

REPLACED = "Replaced by a newer check run."
WORKER_LOST = (
    "The worker running your check stopped before it finished. This is the "
    "platform's fault, not yours: press Check again."
)
NOT_SENT = (
    "The check could not be handed to a worker. This is the platform's fault, "
    "not yours: press Check again in a minute."
)
MAX_SENDS = 3


def source_validate(*, source: object) -> str:
    """Return the source text, or refuse it with a reason a person can act on."""
    if not isinstance(source, str):
        raise ValidationError("Send your code as text in the field “source”.")
    limit = settings.DOJO_UPLOAD_MAX_BYTES
    if len(source) > limit or len(source.encode("utf-8", "surrogatepass")) > limit:
        raise ValidationError(
            f"Your code is larger than the {limit / 1024:.0f} KB limit. Keep only "
            "your training code in the editor: no data, outputs or long strings.",
            code="too_large",
        )
    source_text_check(text=source)
    if not source.strip():
        raise ValidationError("The editor is empty: write your training code first.")
    return source


def assignment_check_refusal(
    *, participant: AbstractUser, assignment: Assignment
) -> str | None:
    """Return why the participant may not check code for this assignment, or None."""
    role = (
        Enrollment.objects.filter(
            user=participant, workshop_id=assignment.workshop_id, active=True
        )
        .values_list("role", flat=True)
        .first()
    )
    if role is None or (not assignment.released and role != Enrollment.Role.INSTRUCTOR):
        return NOT_VISIBLE
    # The same rule as a submission's: no checks once the assignment is closed.
    return assignment.closed_reason(work="check runs")


NOT_VISIBLE = "No such assignment for you. Join its workshop first."


def refusal_code(message: str) -> str:
    """Return the ValidationError code of an assignment refusal."""
    return "not_found" if message == NOT_VISIBLE else "invalid"


def check_run_create(
    *, participant: AbstractUser, assignment: Assignment, source: str
) -> CheckRun:
    """Start a check of `source`, replacing the participant's active check.

    Refuses a source that is too big or not text, an assignment the participant
    cannot see, and more checks a minute than DOJO_CHECK_PER_MINUTE. The task is
    sent after commit on the `check` queue.
    """
    source = source_validate(source=source)
    refusal = assignment_check_refusal(participant=participant, assignment=assignment)
    if refusal:
        raise ValidationError(refusal, code=refusal_code(refusal))
    with transaction.atomic():
        # One participant's checks start one at a time, so two tabs pressing
        # Check at once still leave one active check.
        get_user_model().objects.select_for_update().filter(pk=participant.pk).first()
        now = timezone.now()
        per_minute = settings.DOJO_CHECK_PER_MINUTE
        recent = list(
            CheckRun.objects.filter(
                participant=participant,
                created_at__gt=now - datetime.timedelta(seconds=60),
            )
            .order_by("created_at")
            .values_list("created_at", flat=True)[:per_minute]
        )
        if len(recent) >= per_minute:
            wait = 60 - (now - recent[0]).total_seconds()
            raise ValidationError(
                f"You started {per_minute} checks in the last minute, the most "
                f"allowed. Wait {max(1, round(wait))} s and check again; your code "
                "stays in the editor.",
                code="rate",
            )
        replaced = CheckRun.objects.select_for_update().filter(
            participant=participant, status__in=ACTIVE_CHECK_STATUSES
        )
        for old in replaced:
            old.finish(CheckStatus.CANCELLED, reason=REPLACED)
            old.save(update_fields=["status", "reason", "finished_at"])
        check = CheckRun(
            participant=participant,
            assignment=assignment,
            source=source,
            source_sha256=hashlib.sha256(
                source.encode("utf-8", "surrogatepass")
            ).hexdigest(),
            created_at=now,
        )
        check.full_clean()
        check_run_queue(check=check)
    return check


def check_run_queue(*, check: CheckRun, new_token: bool = True) -> None:
    """Record that the check is due, send it after commit.

    A resend keeps the token: the first of the two messages to arrive runs
    the check and the other finds it no longer queued, so a check waiting its
    turn behind others loses nothing by being resent.
    """
    if new_token:
        check.job_token = uuid.uuid4()
    check.enqueued_at = timezone.now()
    check.sends += 1
    check.save()
    budget = settings.DOJO_CHECK_WALL_SECONDS + settings.DOJO_CHECK_EVAL_SECONDS
    # The row says the check is due, so checks_reconcile sends it again if the
    # broker was away. The sandboxes enforce the real limits; the time limits
    # here only catch a stuck worker.
    outbox_send_on_commit(
        task=JobTask.CHECK_RUN,
        args=[check.pk, str(check.job_token)],
        queue=JobQueue.CHECK,
        soft_time_limit=budget + 120,
        time_limit=budget + 180,
    )


def checks_reconcile(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """End or resend every active check that has no live run and no due message.

    A running check whose heartbeat is older than the grace lost its worker:
    it ends `error`. A queued check older than the requeue delay is sent again,
    up to MAX_SENDS times, then ends `error`.
    """
    now = now or timezone.now()
    grace = datetime.timedelta(seconds=settings.DOJO_HEARTBEAT_GRACE_SECONDS)
    requeue = datetime.timedelta(seconds=settings.DOJO_REQUEUE_AFTER_SECONDS)
    counts = {"lost": 0, "resent": 0, "unsent": 0}
    stale = CheckRun.objects.filter(
        status=CheckStatus.RUNNING, heartbeat_at__lt=now - grace
    ).values_list("pk", flat=True)
    for pk in list(stale[:500]):
        with transaction.atomic():
            check = CheckRun.objects.select_for_update().get(pk=pk)
            if check.status == CheckStatus.RUNNING and check.heartbeat_at < now - grace:
                check.finish(CheckStatus.ERROR, reason=WORKER_LOST)
                check.save(update_fields=["status", "reason", "finished_at"])
                counts["lost"] += 1
    due = CheckRun.objects.filter(
        status=CheckStatus.QUEUED, enqueued_at__lt=now - requeue
    ).values_list("pk", flat=True)
    for pk in list(due[:500]):
        with transaction.atomic():
            check = CheckRun.objects.select_for_update().get(pk=pk)
            if check.status != CheckStatus.QUEUED or check.enqueued_at >= now - requeue:
                continue
            if check.sends >= MAX_SENDS:
                check.finish(CheckStatus.ERROR, reason=NOT_SENT)
                check.save(update_fields=["status", "reason", "finished_at"])
                counts["unsent"] += 1
            else:
                check_run_queue(check=check, new_token=False)
                counts["resent"] += 1
    return counts


def checks_hand_back(*, worker: str) -> int:
    """Queue again the checks a stopped worker was running; return how many."""
    handed = 0
    running = CheckRun.objects.filter(status=CheckStatus.RUNNING, worker=worker)
    for pk in list(running.values_list("pk", flat=True)[:500]):
        with transaction.atomic():
            check = CheckRun.objects.select_for_update().get(pk=pk)
            if check.status != CheckStatus.RUNNING or check.worker != worker:
                continue
            check.status = CheckStatus.QUEUED
            check.log = ""
            check.started_at = check.heartbeat_at = check.first_log_at = None
            check.sends = 0
            check_run_queue(check=check)
            handed += 1
    return handed
