"""Workshops, who takes part in them, and their assignments."""

import secrets
import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone


def new_join_code() -> str:
    """Return a short code that is easy to read out in a room."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(8))


class Workshop(models.Model):
    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    join_code = models.CharField(max_length=16, unique=True, default=new_join_code)
    pack = models.CharField(max_length=80, blank=True, help_text="Pack it came from.")
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    agenda = models.JSONField(default=list, blank=True)
    archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("workshop-detail", kwargs={"slug": self.slug})


class Enrollment(models.Model):
    class Role(models.TextChoices):
        PARTICIPANT = "participant", "Participant"
        INSTRUCTOR = "instructor", "Instructor"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrollments"
    )
    workshop = models.ForeignKey(
        Workshop, on_delete=models.CASCADE, related_name="enrollments"
    )
    role = models.CharField(
        max_length=16, choices=Role.choices, default=Role.PARTICIPANT
    )
    active = models.BooleanField(default=True)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "workshop"], name="one_enrollment")
        ]
        indexes = [models.Index(fields=["workshop", "role", "active"])]

    def __str__(self) -> str:
        return f"{self.user} in {self.workshop} ({self.role})"


FINAL_LIMIT_MAX = 10


class Assignment(models.Model):
    class Kind(models.TextChoices):
        MLP = "mlp", "Multilayer perceptron"
        CNN = "cnn", "Convolutional network"
        TRANSFER = "transfer", "Transfer learning"

    class ScorePolicy(models.TextChoices):
        BEST = "best", "Best submission counts"
        LAST = "last", "Last submission counts"

    class Queue(models.TextChoices):
        CPU = "cpu", "CPU"
        GPU = "gpu", "GPU"

    workshop = models.ForeignKey(
        Workshop, on_delete=models.CASCADE, related_name="assignments"
    )
    slug = models.SlugField(max_length=80)
    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    order = models.PositiveSmallIntegerField(default=1)
    instructions_md = models.TextField(blank=True)
    spec = models.JSONField(default=dict)
    spec_version = models.PositiveIntegerField(default=1)
    spec_sha256 = models.CharField(max_length=64, blank=True)
    deadline = models.DateTimeField(null=True, blank=True)
    daily_limit = models.PositiveIntegerField(default=20)
    score_policy = models.CharField(
        max_length=8, choices=ScorePolicy.choices, default=ScorePolicy.BEST
    )
    queue = models.CharField(max_length=8, choices=Queue.choices, default=Queue.CPU)
    wall_seconds = models.PositiveIntegerField(default=600)
    cpu_seconds = models.PositiveIntegerField(default=1200)
    memory_mb = models.PositiveIntegerField(default=4096)
    released = models.BooleanField(default=True)
    closed = models.BooleanField(default=False)
    # Reveal the private ranking before the assignment is closed (closing
    # reveals it anyway).
    reveal_private = models.BooleanField(default=False)
    # How many submissions a participant may mark as final for the private
    # ranking (none marked: their best on the public part counts).
    final_limit = models.PositiveSmallIntegerField(
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(FINAL_LIMIT_MAX)],
        help_text="Submissions each participant may mark as final (1 to 10).",
    )

    class Meta:
        ordering = ["workshop", "order"]
        constraints = [
            models.UniqueConstraint(
                fields=["workshop", "slug"], name="assignment_slug_per_workshop"
            )
        ]

    def __str__(self) -> str:
        return f"{self.workshop.slug}/{self.slug}"

    def get_absolute_url(self) -> str:
        return reverse(
            "assignment-detail",
            kwargs={"workshop": self.workshop.slug, "slug": self.slug},
        )

    @property
    def train_queue(self) -> str:
        return f"train-{self.queue}"

    @property
    def private_revealed(self) -> bool:
        """Say whether everyone sees the private part's ranking and accuracies.

        Closing the assignment (or archiving the workshop) reveals it; the
        instructor may reveal it earlier.
        """
        return self.closed or self.reveal_private or self.workshop.archived

    def closed_reason(self, *, work: str = "submissions") -> str | None:
        """Return why the assignment takes no more ``work`` now, or None.

        The one rule for submissions and check runs alike: an archived workshop,
        a closed assignment or a past deadline.
        """
        if self.workshop.archived:
            return f"This workshop is archived; it takes no more {work}."
        if self.closed:
            return f"This assignment is closed; your instructor no longer takes {work}."
        if self.deadline and timezone.now() > self.deadline:
            return (
                f"The deadline ({timezone.localtime(self.deadline):%Y-%m-%d %H:%M})"
                " has passed. Ask your instructor if you need more time."
            )
        return None


class AssignmentVersion(models.Model):
    """An assignment as it was before an edit made a new version.

    The assignment row holds the current version (``spec_version``); each
    earlier one is kept here with what the edit changed, so participants can
    read what changed and grades made under it still say which it was.
    """

    assignment = models.ForeignKey(
        Assignment, on_delete=models.CASCADE, related_name="versions"
    )
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    instructions_md = models.TextField(blank=True)
    spec = models.JSONField(default=dict)
    # What the edit that ended this version changed, one line each.
    changes = models.TextField(blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    replaced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["assignment", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["assignment", "number"], name="one_assignment_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.assignment} v{self.number}"


class BoardVersion(models.Model):
    """What a workshop's leaderboards show, as a token renewed on each change.

    Pages cache their ranked rows under the token (dashboard/board_cache.py);
    a change to what they show writes a new token after it commits
    (workshops/boards.py), so the next load computes the rows afresh. The
    token is random, never a count: a token once replaced never comes back,
    even where a test's rollback or a new database reuses the workshop's id.
    """

    workshop = models.OneToOneField(
        Workshop,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="board_version",
    )
    token = models.UUIDField(default=uuid.uuid4)

    def __str__(self) -> str:
        return f"{self.workshop_id}: {self.token}"
