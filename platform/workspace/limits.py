"""Per-participant rates on draft saves and exports, answered as retryable refusals."""

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError

from accounts.ratelimit import rate_take


class DraftThrottled(ValidationError):
    """Too many saves or exports this minute; ``retry_after`` says when to retry."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, code="rate")
        self.retry_after = retry_after


def draft_rate_take(*, participant: AbstractUser, action: str) -> None:
    """Count one save or export; refuse it, retryable, past the minute's rate."""
    limit = {
        "save": settings.DOJO_DRAFT_SAVES_PER_MINUTE,
        "export": settings.DOJO_DRAFT_EXPORTS_PER_MINUTE,
    }[action]
    wait = rate_take(key=f"draft-{action}:{participant.pk}", limit=limit, window=60)
    if wait is not None:
        raise DraftThrottled(
            f"Too many {action}s: at most {limit} a minute. Nothing was lost: your "
            f"text is still in the editor; try again in {wait} s.",
            retry_after=wait,
        )
