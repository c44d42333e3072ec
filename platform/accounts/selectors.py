"""Reads on user accounts: their API tokens, and who may sign up."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.models import SignupPolicy

# Enough of a key to tell the user's tokens apart, far too little to use one.
TOKEN_PREFIX_LENGTH = 8


@dataclass(frozen=True)
class ApiTokenSummary:
    """What the account page shows of a token: never the whole key."""

    prefix: str
    created: datetime.datetime
    expires_at: datetime.datetime
    expired: bool


def api_token_expires_at(*, token: Token) -> datetime.datetime:
    """Return when ``token`` stops working."""
    return token.created + datetime.timedelta(days=settings.DOJO_API_TOKEN_DAYS)


def api_token_expired(*, token: Token) -> bool:
    """Return whether ``token`` is past its expiry."""
    return api_token_expires_at(token=token) <= timezone.now()


def api_token_list_for_user(*, user: AbstractUser) -> list[ApiTokenSummary]:
    """Return the user's API tokens, newest first."""
    return [
        ApiTokenSummary(
            prefix=token.key[:TOKEN_PREFIX_LENGTH],
            created=token.created,
            expires_at=api_token_expires_at(token=token),
            expired=api_token_expired(token=token),
        )
        for token in Token.objects.filter(user=user).order_by("-created")
    ]


def signup_mode() -> str:
    """Return who may make an account now: "open", "code" or "closed".

    The instructor's choice (the sign-up page's settings) once made, else
    ``DOJO_SIGNUP``.
    """
    policy = SignupPolicy.objects.filter(pk=1).values_list("mode", flat=True).first()
    return policy or settings.DOJO_SIGNUP
