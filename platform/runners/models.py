"""Runner hosts that join over the network, their join tokens and their jobs.

A host holds nothing of the site but its own credential: the site keeps only
its digest. A join token, shown once on the hosts page, is exchanged for that
credential once, before it expires. A `HostJob` says which host holds which
run and what it was handed (the job spec), and which uploads it has made.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

# The queues a runner may serve: it trains, and nothing else leaves the site.
RUNNER_QUEUES = ("train-cpu", "train-gpu")


class Host(models.Model):
    name = models.CharField(max_length=64)
    # sha256 of the credential; the credential itself is shown once, never kept.
    credential_sha256 = models.CharField(max_length=64, unique=True)
    # The training queues (kinds of job) it may take, from RUNNER_QUEUES.
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
    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="jobs")
    run = models.OneToOneField(
        "submissions.Run", on_delete=models.CASCADE, related_name="host_job"
    )
    # The job spec it was handed (workers.jobspec), as sent.
    spec = models.JSONField()
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

    def __str__(self) -> str:
        return f"run {self.run_id} on {self.host_id}"
