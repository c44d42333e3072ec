"""Password guessing gets the throttle's allowance and no more, and locks out
only the guesser.

The address is the one the trusted proxy reports (none by default: REMOTE_ADDR),
never a header the client writes. Only failures count. An address that guessed
a username too often is refused for it; past the per-username or per-address
limit, only addresses that already failed for that username are refused, so
the owner logging in from elsewhere still gets in. The form, the API token and
the admin login go through the same throttle.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

URLS = {"form": "login", "api": "api:token", "admin": "admin:login"}
# What a right password gets from each: a redirect, or the token.
SUCCESS = {"form": 302, "api": 200, "admin": 302}


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


def _account(kind: str) -> tuple[str, str]:
    return ("root", "root-pass-123") if kind == "admin" else ("ada", "ada-pass-123")


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
    _rates(settings, login_pair="3/minute")
    user, password = _account(kind)
    codes = [
        _try(kind, user, "wrong", HTTP_X_FORWARDED_FOR=f"10.9.{n}.1") for n in range(3)
    ]
    assert 429 not in codes
    assert _try(kind, user, password, HTTP_X_FORWARDED_FOR="10.9.99.1") == 429


@pytest.mark.parametrize("kind", sorted(URLS))
def test_guessing_a_username_does_not_lock_out_its_owner(
    kind, participant, admin_user, settings
) -> None:
    """Past the per-username limit, addresses that guessed are refused even
    with the right password, while the owner, from an address that has not
    been guessing, logs in."""
    _rates(settings, login_user="3/minute")
    user, password = _account(kind)
    for n in range(3):
        assert _try(kind, user, "wrong", REMOTE_ADDR=f"10.8.{n}.1") != 429
    assert _try(kind, user, password, REMOTE_ADDR="10.8.0.1") == 429
    assert _try(kind, user, password, REMOTE_ADDR="10.8.50.1") == SUCCESS[kind]
    # A fresh guesser gets its one try, then is refused like the others.
    assert _try(kind, user, "wrong", REMOTE_ADDR="10.8.60.1") != 429
    assert _try(kind, user, "wrong", REMOTE_ADDR="10.8.60.1") == 429


@pytest.mark.parametrize("kind", sorted(URLS))
def test_a_guessing_address_does_not_lock_out_others_behind_it(
    kind, participant, admin_user, settings
) -> None:
    """One address (a workshop room's NAT) spraying many usernames is refused
    for those it guessed, not for a username it has not guessed."""
    _rates(settings, login="3/minute")
    user, password = _account(kind)
    for victim in ("bo", "cy", "di"):
        assert _try(kind, victim, "wrong", REMOTE_ADDR="10.6.0.1") != 429
    assert _try(kind, "bo", "wrong", REMOTE_ADDR="10.6.0.1") == 429
    assert _try(kind, user, password, REMOTE_ADDR="10.6.0.1") == SUCCESS[kind]


@pytest.mark.parametrize("kind", sorted(URLS))
def test_only_failed_logins_count(kind, participant, admin_user, settings) -> None:
    """Right passwords never use up any limit; the failures after them get
    the whole allowance."""
    _rates(settings, login_pair="2/minute", login="2/minute", login_user="2/minute")
    user, password = _account(kind)
    for _ in range(4):
        assert _try(kind, user, password, REMOTE_ADDR="10.5.0.1") == SUCCESS[kind]
    assert _try(kind, user, "wrong", REMOTE_ADDR="10.5.0.1") != 429
    assert _try(kind, user, "wrong", REMOTE_ADDR="10.5.0.1") != 429
    assert _try(kind, user, password, REMOTE_ADDR="10.5.0.1") == 429


def test_the_trusted_proxy_count_picks_the_address_it_reports(
    participant, settings
) -> None:
    """Behind one proxy the client is the last X-Forwarded-For entry: what the
    client prepends is ignored, what the proxy appends counts."""
    _rates(settings, login_pair="2/minute")
    settings.DOJO_TRUSTED_PROXIES = 1
    for forged in ("1.1.1.1", "2.2.2.2"):
        _try("form", "ada", "wrong", HTTP_X_FORWARDED_FOR=f"{forged}, 10.7.0.1")
    assert _try("form", "ada", "wrong", HTTP_X_FORWARDED_FOR="10.7.0.1") == 429
    assert _try("form", "ada", "wrong", HTTP_X_FORWARDED_FOR="10.7.0.2") != 429
