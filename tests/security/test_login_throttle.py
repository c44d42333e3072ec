"""Password guessing gets the throttle's allowance and no more.

The address is the one the trusted proxy reports (none by default: REMOTE_ADDR),
never a header the client writes; each username has its own limit too; the
admin login goes through the same throttle.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

URLS = {"form": "login", "api": "api:token", "admin": "admin:login"}


def _rates(settings, **rates: str) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            **rates,
        },
    }


def _try(kind: str, username: str, password: str, **meta) -> int:
    client = Client(**meta)
    return client.post(
        reverse(URLS[kind]), {"username": username, "password": password}
    ).status_code


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser(
        "root", "root@example.com", "root-pass-123"
    )


@pytest.mark.parametrize("kind", sorted(URLS))
def test_a_forged_forwarded_for_header_does_not_reset_the_limit(
    kind, participant, admin_user, settings
) -> None:
    """Rotating X-Forwarded-For from one address gets 3 tries, then 429s,
    even with the right password."""
    _rates(settings, login="3/minute", login_user="1000/minute")
    user, password = (
        ("root", "root-pass-123") if kind == "admin" else ("ada", "ada-pass-123")
    )
    codes = [
        _try(kind, user, "wrong", HTTP_X_FORWARDED_FOR=f"10.9.{n}.1") for n in range(3)
    ]
    assert 429 not in codes
    assert _try(kind, user, password, HTTP_X_FORWARDED_FOR="10.9.99.1") == 429


@pytest.mark.parametrize("kind", sorted(URLS))
def test_one_username_has_its_own_limit_across_addresses(
    kind, participant, admin_user, settings
) -> None:
    """Guesses for one username from many addresses stop at the per-username
    limit; another username is unaffected."""
    _rates(settings, login="1000/minute", login_user="3/minute")
    user, password = (
        ("root", "root-pass-123") if kind == "admin" else ("ada", "ada-pass-123")
    )
    for n in range(3):
        assert _try(kind, user, "wrong", REMOTE_ADDR=f"10.8.{n}.1") != 429
    assert _try(kind, user, password, REMOTE_ADDR="10.8.50.1") == 429
    assert _try(kind, "someone-else", "x", REMOTE_ADDR="10.8.51.1") != 429


def test_the_trusted_proxy_count_picks_the_address_it_reports(
    participant, settings
) -> None:
    """Behind one proxy the client is the last X-Forwarded-For entry: what the
    client prepends is ignored, what the proxy appends counts."""
    _rates(settings, login="2/minute", login_user="1000/minute")
    settings.DOJO_TRUSTED_PROXIES = 1
    for forged in ("1.1.1.1", "2.2.2.2"):
        _try("form", "ada", "wrong", HTTP_X_FORWARDED_FOR=f"{forged}, 10.7.0.1")
    assert _try("form", "ada", "wrong", HTTP_X_FORWARDED_FOR="10.7.0.1") == 429
    assert _try("form", "ada", "wrong", HTTP_X_FORWARDED_FOR="10.7.0.2") != 429
