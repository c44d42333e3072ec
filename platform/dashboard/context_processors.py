"""Template context shared by every page."""

from django.conf import settings
from django.http import HttpRequest

from workshops.models import Enrollment


def dojo(request: HttpRequest) -> dict:
    """Warn instructors on every page while submissions run without bubblewrap."""
    if settings.DOJO_SANDBOX_BACKEND != "local":
        return {"sandbox_warning": False}
    user = getattr(request, "user", None)
    teaches = bool(
        user is not None
        and user.is_authenticated
        and (
            user.is_staff
            or Enrollment.objects.filter(
                user=user, role=Enrollment.Role.INSTRUCTOR, active=True
            ).exists()
        )
    )
    return {"sandbox_warning": teaches}
