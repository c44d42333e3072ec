"""API tokens expire, and their owner can revoke them from the account page."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def _token_for(username: str, password: str) -> str:
    response = APIClient().post(
        reverse("api:token"), {"username": username, "password": password}
    )
    assert response.status_code == 200, response.content
    return response.json()["token"]


def _get_workshops(key: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get(reverse("api:workshop-list"))


def _age(key: str, days: float) -> None:
    """Make the token look ``days`` old (the clock, not the code, moves)."""
    Token.objects.filter(key=key).update(
        created=timezone.now() - datetime.timedelta(days=days)
    )


def test_an_expired_token_is_refused_and_logging_in_again_gives_a_new_one(
    participant, settings
):
    """Past DOJO_API_TOKEN_DAYS a token gets 401 saying it expired and what to
    do; the token endpoint then hands out a fresh one that works."""
    settings.DOJO_API_TOKEN_DAYS = 7
    key = _token_for("ada", "ada-pass-123")
    _age(key, 6.9)
    assert _get_workshops(key).status_code == 200
    _age(key, 7.1)
    refused = _get_workshops(key)
    assert refused.status_code == 401
    assert "expired" in refused.json()["detail"]
    assert "log in again" in refused.json()["detail"].lower()
    fresh = _token_for("ada", "ada-pass-123")
    assert fresh != key
    assert _get_workshops(fresh).status_code == 200
    assert _get_workshops(key).status_code == 401


def test_the_account_page_lists_and_revokes_the_users_token(
    client, participant, other_participant
):
    """The page shows a prefix of the user's own token, never the key nor
    anyone else's; revoking it makes the API refuse it."""
    key = _token_for("ada", "ada-pass-123")
    others = _token_for("grace", "grace-pass-123")
    client.force_login(participant)
    page = client.get(reverse("api-tokens")).content.decode()
    assert key[:8] in page
    assert key not in page
    assert others[:8] not in page
    # Another user's prefix revokes nothing.
    client.post(reverse("api-tokens"), {"prefix": others[:8]})
    assert _get_workshops(others).status_code == 200
    response = client.post(reverse("api-tokens"), {"prefix": key[:8]}, follow=True)
    assert "Token revoked" in response.content.decode()
    assert _get_workshops(key).status_code == 401
    assert "no API token" in client.get(reverse("api-tokens")).content.decode()
