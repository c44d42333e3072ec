"""Submissions, the runs that train and evaluate them, and their grades."""

import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from jobs.transitions import JobRowMixin
from submissions.prediction_rows import Prediction  # noqa: F401 - registered here
from web.scores import score_text
from workers.sandbox import neutralise


def submission_upload_to(instance: "Submission", filename: str) -> str:
    return f"submissions/{instance.assignment_id}/{uuid.uuid4().hex}/{filename}"


class Status(models.TextChoices):
    RECEIVED = "received", "Received"
    QUEUED = "queued", "Queued"
    TRAINING = "training", "Training"
    EVALUATING = "evaluating", "Evaluating"
    GRADED = "graded", "Graded"
    FAILED = "failed", "Failed"
    ERROR = "error", "Error"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = (Status.RECEIVED, Status.QUEUED, Status.TRAINING, Status.EVALUATING)
FINAL_STATUSES = (Status.GRADED, Status.FAILED, Status.ERROR, Status.CANCELLED)


class Submission(JobRowMixin, models.Model):
    JOB_ROW = "submission"
    JOB_ACTIVE = ACTIVE_STATUSES

    class Format(models.TextChoices):
        PY = "py", "Python script"
        IPYNB = "ipynb", "Jupyter notebook"

    participant = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="submissions"
    )
    assignment = models.ForeignKey(
        "workshops.Assignment", on_delete=models.CASCADE, related_name="submissions"
    )
    file = models.FileField(upload_to=submission_upload_to, max_length=300)
    original_name = models.CharField(max_length=200)
    format = models.CharField(max_length=8, choices=Format.choices)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.RECEIVED
    )
    status_reason = models.TextField(blank=True)
    # The job the queue should run next; a message carrying another token is stale.
    job_token = models.UUIDField(default=uuid.uuid4)
    attempts = models.PositiveSmallIntegerField(default=0)
    # How often the current job was sent to the broker; spaces out resends.
    sends = models.PositiveSmallIntegerField(default=0)
    batch = models.ForeignKey(
        "RegradeBatch",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="submissions",
    )
    cancel_requested = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    current_grade = models.ForeignKey(
        "Grade", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # When its participant marked it as final for the private ranking (None:
    # not marked); see submissions.services.finals.
    final_at = models.DateTimeField(null=True, blank=True)
    # A run of the assignment's reference solution by an instructor (Validate):
    # trained and graded like any submission, never ranked, listed or counted
    # (submissions.services.reference).
    reference = models.BooleanField(default=False)
    # For a reference run: a digest of the assignment's spec and limits when it
    # was queued, so a later edit makes the validation stale.
    reference_key = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["assignment", "participant", "created_at"]),
            models.Index(fields=["status", "updated_at"]),
            # Covers the progress matrix's per-cell aggregate.
            models.Index(
                fields=["assignment", "participant", "status", "current_grade"],
                name="submission_progress",
            ),
            # Counts one workshop's active jobs without reading other workshops'.
            models.Index(fields=["assignment", "status"], name="submission_jobs"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.original_name} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("submission-detail", kwargs={"pk": self.pk})

    def move_to(self, status: str, *, reason: str = "") -> None:
        """Set a new status in memory, refusing moves the state machine forbids."""
        self.status_set(status)
        # Reasons quote logs and model files: no terminal, bidi or NUL characters.
        self.status_reason = neutralise(reason)
        now = timezone.now()
        if status in FINAL_STATUSES:
            self.finished_at = now
        elif status == Status.TRAINING:
            self.started_at = now
            self.finished_at = None


class Run(models.Model):
    class Kind(models.TextChoices):
        TRAIN = "train", "Training"
        EVALUATE = "evaluate", "Evaluation"

    class Outcome(models.TextChoices):
        """How a run ended: the sandbox's outcomes plus the platform's own."""

        OK = "ok", "Finished"
        EXIT_NONZERO = "exit_nonzero", "Exited with an error"
        TIMED_OUT = "timed_out", "Timed out"
        KILLED_MEMORY = "killed_memory", "Out of memory"
        KILLED_OUTPUT = "killed_output", "Too much output"
        KILLED_PROCESSES = "killed_processes", "Too many processes"
        KILLED_DISK = "killed_disk", "Disk limit"
        CANCELLED = "cancelled", "Cancelled"
        PLATFORM_ERROR = "platform_error", "Platform error"
        WORKER_LOST = "worker_lost", "Worker lost"

    submission = models.ForeignKey(
        Submission, on_delete=models.CASCADE, related_name="runs"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    job_token = models.UUIDField()
    queue = models.CharField(max_length=32)
    host = models.CharField(max_length=200, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    # Reported from inside the sandbox by the job itself, never from settings.
    device = models.CharField(max_length=64, blank=True)
    on_gpu = models.BooleanField(null=True, blank=True)
    slot = models.PositiveSmallIntegerField(null=True, blank=True)
    # How the worker limited the job (cgroups, uid, MPS), for the hosts page.
    isolation = models.CharField(max_length=200, blank=True)
    keras_backend = models.CharField(max_length=32, blank=True)
    sandbox_backend = models.CharField(max_length=16, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=32, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    cpu_seconds = models.FloatField(null=True, blank=True)
    peak_memory_bytes = models.BigIntegerField(null=True, blank=True)
    log = models.TextField(blank=True)
    log_truncated = models.BooleanField(default=False)
    artifact_path = models.CharField(max_length=400, blank=True)

    class Meta:
        ordering = ["started_at"]
        constraints = [
            # A redelivered message must not start the same job twice.
            models.UniqueConstraint(
                fields=["job_token", "kind"], name="one_run_per_job"
            )
        ]
        indexes = [
            # The hosts page and a worker's hand-back read open runs only.
            models.Index(
                fields=["worker"],
                condition=models.Q(finished_at__isnull=True),
                name="run_open",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} run of submission {self.submission_id}"

    def save(self, *args, **kwargs) -> None:
        # A log is what participant code printed: no terminal or bidi controls on
        # a page, and no NUL, which PostgreSQL refuses.
        self.log = neutralise(self.log)
        super().save(*args, **kwargs)

    @property
    def is_running(self) -> bool:
        return self.finished_at is None

    @property
    def gpu_fell_back_to_cpu(self) -> bool:
        """Return whether a job sent to a GPU trained on the CPU instead."""
        return self.queue == "train-gpu" and self.on_gpu is False

    @property
    def device_label(self) -> str:
        """Return e.g. "NVIDIA H200, slot 3", or "" when the job reported none."""
        if not self.device:
            return ""
        return self.device + (f", slot {self.slot}" if self.slot is not None else "")


class Grade(models.Model):
    submission = models.ForeignKey(
        Submission, on_delete=models.CASCADE, related_name="grades"
    )
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL)
    grader_version = models.CharField(max_length=32)
    spec_version = models.PositiveIntegerField()
    passed_checks = models.BooleanField(default=False)
    public_accuracy = models.FloatField(null=True)
    private_accuracy = models.FloatField(null=True)
    score = models.FloatField(default=0)
    checks = models.JSONField(default=list)
    report = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        get_latest_by = ["created_at", "pk"]
        indexes = [
            # Covers the leaderboard and progress joins, so they skip the large
            # report and checks columns (measured by bench/pages.py on SQLite).
            models.Index(
                fields=[
                    "id",
                    "score",
                    "passed_checks",
                    "public_accuracy",
                    "private_accuracy",
                ],
                name="grade_summary",
            )
        ]

    def __str__(self) -> str:
        return f"{score_text(self.score)} for submission {self.submission_id}"


class RegradeBatch(models.Model):
    class Mode(models.TextChoices):
        REEVALUATE = "reevaluate", "Re-evaluate stored models"
        RERUN = "rerun", "Rerun (retrain)"

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    assignment = models.ForeignKey(
        "workshops.Assignment", on_delete=models.CASCADE, related_name="regrade_batches"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True
    )
    mode = models.CharField(max_length=16, choices=Mode.choices)
    state = models.CharField(
        max_length=16, choices=State.choices, default=State.RUNNING
    )
    submission_ids = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.mode} of {len(self.submission_ids)} in {self.assignment}"

    @property
    def total(self) -> int:
        return len(self.submission_ids)


class Standing(models.Model):
    """One participant's standing on one assignment, for the class-scale pages.

    Derived from the pair's submissions and refreshed in the transaction that
    changes one of them (`submission_move`, the intake: by explicit call, see
    `submissions.services.standings`); `manage.py standings_check` recomputes
    it from scratch to compare.
    """

    class Progress(models.TextChoices):
        NOT_STARTED = "not-started", "Not started"
        RUNNING = "running", "Running"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"

    participant = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="standings"
    )
    assignment = models.ForeignKey(
        "workshops.Assignment", on_delete=models.CASCADE, related_name="standings"
    )
    # An active participant of the workshop: only listed rows rank and count.
    listed = models.BooleanField(default=False)
    progress = models.CharField(
        max_length=16, choices=Progress.choices, default=Progress.NOT_STARTED
    )
    # Submissions by outcome; attempts leaves out the cancelled ones.
    attempts = models.PositiveIntegerField(default=0)
    running = models.PositiveIntegerField(default=0)
    graded = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    errored = models.PositiveIntegerField(default=0)
    cancelled = models.PositiveIntegerField(default=0)
    passed = models.BooleanField(default=False)
    best_score = models.FloatField(null=True, blank=True)
    # The graded submission that counts under the assignment's score policy;
    # grades are never overwritten, so copying their figures is safe.
    counted_submission = models.ForeignKey(
        Submission, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    counted_grade = models.ForeignKey(
        Grade, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    counted_score = models.FloatField(null=True, blank=True)
    counted_public_accuracy = models.FloatField(null=True, blank=True)
    counted_private_accuracy = models.FloatField(null=True, blank=True)
    counted_passed_checks = models.BooleanField(default=False)
    counted_at = models.DateTimeField(null=True, blank=True)
    latest_submission = models.ForeignKey(
        Submission, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    latest_status = models.CharField(max_length=16, blank=True)
    latest_reason = models.TextField(blank=True)
    last_submitted_at = models.DateTimeField(null=True, blank=True)
    # The leaderboard's two entries (docs/standings.md). Public: the graded
    # submission best on the public part (checks passed first, then public
    # accuracy, then the earlier). Private: the best on the private part among
    # the submissions marked final, or the public entry when none is.
    public_submission = models.ForeignKey(
        Submission, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    public_accuracy = models.FloatField(null=True, blank=True)
    public_passed_checks = models.BooleanField(default=False)
    public_at = models.DateTimeField(null=True, blank=True)
    private_submission = models.ForeignKey(
        Submission, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    private_accuracy = models.FloatField(null=True, blank=True)
    private_passed_checks = models.BooleanField(default=False)
    private_at = models.DateTimeField(null=True, blank=True)
    # Graded submissions marked final that count (at most the assignment's limit).
    finals = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "assignment"], name="one_standing"
            )
        ]
        indexes = [
            models.Index(
                fields=["assignment", "listed", "counted_score", "counted_at"],
                name="standing_board",
            ),
            # The matrix's status filter.
            models.Index(
                fields=["assignment", "progress", "participant"],
                name="standing_progress",
            ),
            # The leaderboard's two rankings, in their order.
            models.Index(
                fields=[
                    "assignment",
                    "listed",
                    "-public_passed_checks",
                    "-public_accuracy",
                    "public_at",
                    "public_submission",
                ],
                name="standing_public_board",
            ),
            models.Index(
                fields=[
                    "assignment",
                    "listed",
                    "-private_passed_checks",
                    "-private_accuracy",
                    "private_at",
                    "private_submission",
                ],
                name="standing_private_board",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.participant_id} on {self.assignment_id}: {self.progress}"
