"""Template context shared by every page."""

from django.conf import settings
from django.http import HttpRequest


def dojo(request: HttpRequest) -> dict:
    """Warn instructors when submissions run without the bubblewrap sandbox."""
    return {
        "sandbox_unconfined": settings.DOJO_SANDBOX_BACKEND == "local",
    }
