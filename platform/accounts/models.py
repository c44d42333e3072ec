"""Counters behind the rate limits (logins, predictions)."""

from django.conf import settings
from django.db import models


class RateCount(models.Model):
    """How many times ``key`` was used in the window that ends at ``expires_at``.

    The count is raised with one UPDATE (``count = count + 1``), so concurrent
    requests never read the same value: a limit holds on any cache backend.
    """

    key = models.CharField(max_length=200, unique=True)
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.count}"


class SignupPolicy(models.Model):
    """Who may create an account, as the instructor last set it (one row).

    Without a row, ``DOJO_SIGNUP`` decides. An instructor closes sign-up once
    the room has its accounts: "code" alone still lets anyone who knows a join
    code make a second account, doubling every per-participant cap.
    """

    class Mode(models.TextChoices):
        OPEN = "open", "Open: anyone may make an account"
        CODE = "code", "Join code: only with a workshop's join code"
        CLOSED = "closed", "Closed: no new accounts (instructors make them)"

    mode = models.CharField(max_length=8, choices=Mode.choices)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    changed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.mode
