"""Runner hosts that join over the network, their join tokens and their jobs.

A host holds nothing of the site but its own credential: the site keeps only
its digest. A join token, shown once on the hosts page, is exchanged for that
credential once, before it expires. A `HostJob` says which host holds which
job (a submission's training run, or a check run's training) under which job
token, what it was handed (the job spec), and which uploads it has made.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

# The queues a runner may serve: it trains (submissions and check runs), and
# nothing else leaves the site.
RUNNER_QUEUES = ("train-cpu", "train-gpu", "check")


class Host(models.Model):
    name = models.CharField(max_length=64)
    # sha256 of the credential; the credential itself is shown once, never kept.
    credential_sha256 = models.CharField(max_length=64, unique=True)
    # The queues (kinds of job) it may take, from RUNNER_QUEUES.
    queues = models.JSONField(default=list)
    # A host an instructor added trains their workshop's jobs only; staff's any.
    workshop = models.ForeignKey(
        "workshops.Workshop", null=True, blank=True, on_delete=models.CASCADE
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    version = models.CharField(max_length=40, blank=True)
    slots = models.PositiveSmallIntegerField(default=1)
    # What the host said of itself (backends, GPUs, memory): shown, never trusted.
    facts = models.JSONField(default=dict)
    jobs_done = models.PositiveIntegerField(default=0)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return f"runner {self.name} (#{self.pk})"

    @property
    def worker_name(self) -> str:
        """Return the name its runs carry as their worker (host after the @)."""
        return f"runner-{self.pk}@{self.name}"


class JoinToken(models.Model):
    token_sha256 = models.CharField(max_length=64, unique=True)
    queues = models.JSONField(default=list)
    workshop = models.ForeignKey(
        "workshops.Workshop", null=True, blank=True, on_delete=models.CASCADE
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    host = models.OneToOneField(
        Host, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"join token #{self.pk}"


class HostJob(models.Model):
    class Kind(models.TextChoices):
        TRAIN = "train", "Submission training"
        CHECK = "check", "Check run training"

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.TRAIN)
    # A training's run (one per claim), or the check run (claimed once per
    # attempt, each time under a new token).
    run = models.OneToOneField(
        "submissions.Run",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="host_job",
    )
    check_run = models.ForeignKey(
        "checks.CheckRun",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="host_jobs",
    )
    # The job token the host claimed: the job is its while the row keeps it.
    token = models.UUIDField(null=True, blank=True)
    # The job spec it was handed (workers.jobspec), as sent.
    spec = models.JSONField()
    # The platform's lines shown above the host's log (what a check trains on).
    log_head = models.TextField(blank=True)
    claimed_at = models.DateTimeField(default=timezone.now)
    # name -> {"sha256", "size"} of each upload: stored whole (on the site's
    # disk), or with "key", presigned to that object store staging key and
    # verified by the site's worker once a result named it (`pending`).
    uploads = models.JSONField(default=dict)
    # Set once, by the one result that is applied.
    result_at = models.DateTimeField(null=True, blank=True)
    # A result whose model waits in the object store: {"names": [...],
    # "attempts": n}, the uploads the site's worker reads back, verifies and
    # keeps before the evaluation (`runners.settle`); null when none waits.
    pending = models.JSONField(null=True, blank=True, default=None)

    class Meta:
        ordering = ["-claimed_at"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(kind="train", run__isnull=False, check_run__isnull=True)
                    | models.Q(kind="check", run__isnull=True, check_run__isnull=False)
                ),
                name="host_job_one_kind",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} job {self.pk} on {self.host_id}"
