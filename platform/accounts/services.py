"""Writes on user accounts and their API tokens."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.db import transaction
from rest_framework.authtoken.models import Token

from accounts.models import SignupPolicy
from accounts.selectors import TOKEN_PREFIX_LENGTH, api_token_expired

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


def api_token_issue(*, user: AbstractUser) -> Token:
    """Return the user's API token, replacing it first if it has expired."""
    with transaction.atomic():
        token = Token.objects.select_for_update().filter(user=user).first()
        if token is not None and api_token_expired(token=token):
            token.delete()
        token, _created = Token.objects.get_or_create(user=user)
    return token


def api_token_revoke(*, user: AbstractUser, prefix: str) -> bool:
    """Delete the user's token whose key starts with ``prefix``; say if one was."""
    if len(prefix) < TOKEN_PREFIX_LENGTH:
        return False
    deleted, _ = Token.objects.filter(user=user, key__startswith=prefix).delete()
    return deleted > 0


def signup_mode_set(*, mode: str, by: AbstractUser) -> None:
    """Set who may make an account from now on (``SignupPolicy.Mode``)."""
    if mode not in SignupPolicy.Mode.values:
        raise ValueError(f"unknown sign-up mode {mode!r}")
    SignupPolicy.objects.update_or_create(
        pk=1, defaults={"mode": mode, "changed_by": by}
    )
