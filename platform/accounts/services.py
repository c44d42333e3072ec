"""Writes on user accounts."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser

DEMO_USERS = {
    "instructor": "dojo-instructor",
    "participant": "dojo-participant",
}


def user_ensure(*, username: str, password: str, email: str = "") -> AbstractUser:
    """Return the user, creating it with this password the first time."""
    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first()
    if user is None:
        user = user_model.objects.create_user(
            username=username, password=password, email=email
        )
    return user
