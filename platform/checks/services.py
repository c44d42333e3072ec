"""Writes on check runs: start one (replacing the running one), queue it.

A check run is a short training of a draft on the check slice, with the
submission's structural checks and an indicative accuracy on a public sample.
It never counts against the daily submission limit; it has its own limits: one
active check per participant (a new one replaces it) and a rate per minute.
"""

import datetime
import hashlib

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from checks.models import ACTIVE_CHECK_STATUSES, CheckRun, CheckStatus
from jobs.queue import JobMessage, job_queue
from jobs.queues import JobQueue, JobTask
from submissions.sourcetext import source_text_check
from workshops.models import Assignment, Enrollment

REPLACED = "Replaced by a newer check run."


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


def check_run_queue(
    *, check: CheckRun, new_token: bool = True, fresh: bool = False
) -> None:
    """Record that the check is due, send it after commit (`jobs.queue`).

    A resend keeps the token: the first of the two messages to arrive runs
    the check and the other finds it no longer queued, so a check waiting its
    turn behind others loses nothing by being resent. A queued check on a
    runner-only queue (DOJO_RUNNER_QUEUES holds `check`) gets no message: a
    runner host takes it from the row. A check `evaluating` always goes to the
    site's own check workers: only they see the public sample.
    """
    budget = settings.DOJO_CHECK_WALL_SECONDS + settings.DOJO_CHECK_EVAL_SECONDS
    message = JobMessage(
        task=JobTask.CHECK_RUN,
        queue=JobQueue.CHECK,
        budget_seconds=budget,
        runners_may_take=check.status == CheckStatus.QUEUED,
    )
    job_queue(row=check, message=message, new_token=new_token, fresh=fresh)


def check_evaluation_queue(*, check_id: int, job_token: str, log: str) -> bool:
    """Send a check a runner host trained to the site's grader; False if the
    check moved on meanwhile (replaced, handed back).

    Its model is kept at `CheckRun.kept_model`. Checking it is a job of its
    own, as a submission's evaluation is: a new token (the host's is dead),
    its own attempts, no worker until a site worker claims it.
    """
    with transaction.atomic():
        check = (
            CheckRun.objects.select_for_update()
            .filter(pk=check_id, job_token=job_token, status=CheckStatus.RUNNING)
            .first()
        )
        if check is None:
            return False
        check.move_to(CheckStatus.EVALUATING)
        check.log = log
        check.worker = ""
        check.heartbeat_at = None
        check_run_queue(check=check, fresh=True)
    return True
