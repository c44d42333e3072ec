"""Check runs: a short, uncounted training of a draft, checked like a submission."""

import uuid
from pathlib import Path

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from jobs.transitions import JobRowMixin
from workers.sandbox import neutralise

# The log kept for a check: its tail, like a Run's (the sandbox caps it too).
LOG_MAX_CHARS = 256 * 1024


class CheckStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    # Trained on a runner host; its model waits for (or is in) the site's
    # grader, which alone sees the public sample.
    EVALUATING = "evaluating", "Checking the model"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    ERROR = "error", "Error"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_CHECK_STATUSES = (
    CheckStatus.QUEUED,
    CheckStatus.RUNNING,
    CheckStatus.EVALUATING,
)
# A worker (a site worker or a runner host) is on the check.
WORKING_CHECK_STATUSES = (CheckStatus.RUNNING, CheckStatus.EVALUATING)


def log_bound(text: str) -> str:
    """Return the log's neutralised tail, at most LOG_MAX_CHARS long."""
    text = neutralise(text)
    if len(text) <= LOG_MAX_CHARS:
        return text
    return "[dojo] earlier output dropped\n" + text[-LOG_MAX_CHARS:]


class CheckRun(JobRowMixin, models.Model):
    """One check of a participant's source text; never graded, never counted."""

    JOB_ROW = "check"
    JOB_ACTIVE = ACTIVE_CHECK_STATUSES

    participant = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="check_runs"
    )
    assignment = models.ForeignKey(
        "workshops.Assignment", on_delete=models.CASCADE, related_name="check_runs"
    )
    # The text as it was when the check started: the draft may change meanwhile.
    source = models.TextField()
    source_sha256 = models.CharField(max_length=64)
    status = models.CharField(
        max_length=12, choices=CheckStatus.choices, default=CheckStatus.QUEUED
    )
    reason = models.TextField(blank=True)
    log = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)
    # The message the worker must carry; a message with another token is stale.
    job_token = models.UUIDField(default=uuid.uuid4)
    sends = models.PositiveSmallIntegerField(default=0)
    # Claims by a worker: the one retry policy (DOJO_MAX_ATTEMPTS) reads it.
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)
    # Whether the training ran in the slot's warm spare (Keras already imported).
    warm_start = models.BooleanField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    first_log_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The rate limit and "the latest check" read one participant's rows.
            models.Index(
                fields=["participant", "assignment", "created_at"],
                name="check_latest",
            ),
            models.Index(fields=["participant", "created_at"], name="check_rate"),
            # The reconciler reads active rows only.
            models.Index(fields=["status", "heartbeat_at"], name="check_active"),
        ]

    def __str__(self) -> str:
        return f"check #{self.pk} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("check-detail", kwargs={"check_id": self.pk})

    @property
    def kept_model(self) -> Path:
        """Return where a model trained on a runner waits for the site's grader."""
        return (
            Path(settings.DOJO_ARTIFACT_ROOT) / "checks" / str(self.pk) / "model.keras"
        )

    def move_to(self, status: str) -> None:
        """Set a new status in memory, refusing moves the one table forbids."""
        self.status_set(status)

    def finish(self, status: str, *, reason: str = "") -> None:
        """Set a final status in memory; reasons quote logs, so neutralise them."""
        self.move_to(status)
        self.reason = neutralise(reason)[:2000]
        self.finished_at = timezone.now()
