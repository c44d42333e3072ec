"""Counters behind the rate limits (logins, predictions)."""

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
