"""A participant's draft of an assignment, its versions, and help requests.

A save writes only the participant's own Draft row (and, now and then, inserts a
DraftVersion): no row another participant's save or a job writes, so a room
typing at once never queues on one hot row.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Draft(models.Model):
    participant = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="drafts"
    )
    assignment = models.ForeignKey(
        "workshops.Assignment", on_delete=models.CASCADE, related_name="drafts"
    )
    text = models.TextField(blank=True)
    # Bumped by every save; a save based on an older revision is a conflict.
    revision = models.PositiveIntegerField(default=0)
    # The newest version's number; versions are numbered 1, 2, ... per draft.
    version_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # When the newest version was kept: a save after the interval keeps another.
    versioned_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "assignment"], name="one_draft_per_assignment"
            )
        ]

    def __str__(self) -> str:
        return f"draft of {self.assignment_id} by {self.participant_id}"


class DraftVersion(models.Model):
    class Reason(models.TextChoices):
        EDIT = "edit", "While editing"
        CHECK = "check", "Check run"
        SUBMIT = "submit", "Submitted"
        RESTORE = "restore", "Restored"
        STARTER = "starter", "Starter"
        RESET = "reset", "Reset to starter"
        IMPORT = "import", "Imported"
        CONFLICT = "conflict", "Kept from another tab"
        LEAVE = "leave", "Left the page"

    draft = models.ForeignKey(Draft, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    text = models.TextField(blank=True)
    reason = models.CharField(max_length=16, choices=Reason.choices)
    note = models.CharField(max_length=200, blank=True)
    # Set on the version a submission was made from; such versions are never thinned.
    submission = models.OneToOneField(
        "submissions.Submission",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="draft_version",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["draft", "number"], name="version_number_per_draft"
            )
        ]

    def __str__(self) -> str:
        return f"version {self.number} of {self.draft_id}"


class HelpRequest(models.Model):
    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting"
        TAKEN = "taken", "An instructor is on the way"
        DONE = "done", "Done"
        WITHDRAWN = "withdrawn", "Withdrawn"

    participant = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    assignment = models.ForeignKey(
        "workshops.Assignment", on_delete=models.CASCADE, related_name="help_requests"
    )
    # Kept beside the assignment so the dashboard lists a workshop's queue in one query.
    workshop = models.ForeignKey(
        "workshops.Workshop", on_delete=models.CASCADE, related_name="help_requests"
    )
    note = models.CharField(max_length=200, blank=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.WAITING
    )
    taken_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The instructor's latest hint, shown in the participant's workspace.
    reply = models.TextField(blank=True)
    replied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    replied_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    taken_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["workshop", "status", "created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "assignment"],
                condition=Q(status__in=["waiting", "taken"]),
                name="one_open_help_request",
            )
        ]

    def __str__(self) -> str:
        return f"help for {self.participant_id} on {self.assignment_id}"

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.WAITING, self.Status.TAKEN)
