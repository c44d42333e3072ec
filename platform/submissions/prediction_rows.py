"""A "try your model" prediction, as a job row of the one framework.

One row per image (or sentence) a participant asks about: what was asked,
bounded; the job's token, attempts, worker and times; then the answer (bounded
JSON) or a reason. The page polls the row; the one reconciler ends one nobody
answers and sweeps finished ones, so the table holds minutes of asking, not a
workshop's. The model lives here, not in `models.py`, which holds the
submission's own rows; `models.py` imports it so Django registers it.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from jobs.transitions import JobRowMixin
from workers.sandbox import neutralise

# What is asked is the image as base64 bytes (at most 64 x 64 x 3, 16 KB) or a
# sentence's word ids ("t:" then base64): a longer one is refused, never kept.
ASKED_MAX_CHARS = 64 * 1024
# An answer as stored: the worker's checked reply (maps are the largest, at
# most 64 KB as the predictor wrote them), serialised.
ANSWER_MAX_BYTES = 96 * 1024
REASON_MAX_CHARS = 500


class PredictionKind(models.TextChoices):
    PREDICT = "predict", "prediction"
    EXPLAIN = "explain", "word weights"
    MAPS = "maps", "feature maps"


class PredictionStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    ANSWERED = "answered", "Answered"
    # The predictor refused the model or the image: its reason says why.
    FAILED = "failed", "Failed"
    # Nobody answered in time, the worker was lost, or the answer was unusable.
    ERROR = "error", "Error"


WAITING_PREDICTION_STATUSES = (PredictionStatus.QUEUED, PredictionStatus.RUNNING)


class Prediction(JobRowMixin, models.Model):
    """One question to a graded submission's model, answered by a warm predictor."""

    JOB_ROW = "prediction"
    JOB_ACTIVE = WAITING_PREDICTION_STATUSES

    participant = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="predictions"
    )
    submission = models.ForeignKey(
        "submissions.Submission", on_delete=models.CASCADE, related_name="predictions"
    )
    kind = models.CharField(max_length=8, choices=PredictionKind.choices)
    status = models.CharField(
        max_length=10,
        choices=PredictionStatus.choices,
        default=PredictionStatus.QUEUED,
    )
    # The image's base64 bytes, or a sentence's word ids (`text_words`).
    asked = models.TextField()
    answer = models.JSONField(default=dict, blank=True)
    reason = models.CharField(max_length=REASON_MAX_CHARS, blank=True)
    # The message the worker must carry; a message with another token is stale.
    job_token = models.UUIDField(default=uuid.uuid4)
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The asker stops waiting here; no worker claims it after.
    expires_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The room's cap, the reconciler and the hosts page read waiting rows.
            models.Index(fields=["status", "expires_at"], name="prediction_waiting"),
            # A participant's cap on waiting images.
            models.Index(
                fields=["participant", "status", "expires_at"],
                name="prediction_mine",
            ),
            # The sweep of finished rows.
            models.Index(fields=["finished_at"], name="prediction_done"),
            # The hosts page: which workers answered lately.
            models.Index(fields=["heartbeat_at"], name="prediction_beat"),
        ]

    def __str__(self) -> str:
        return f"prediction #{self.pk} ({self.status})"

    def finish(self, status: str, *, reason: str = "") -> None:
        """Set a final status in memory; reasons may quote a model: neutralise."""
        self.status_set(status)
        self.reason = neutralise(reason)[:REASON_MAX_CHARS]
        self.finished_at = timezone.now()
