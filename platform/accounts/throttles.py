"""The login throttle: per client address and per username, for every login.

The address is the one the trusted proxy reports: with ``DOJO_TRUSTED_PROXIES``
proxies in front, the client is that many entries from the end of
X-Forwarded-For (what a client writes itself comes before); with none (the
default), REMOTE_ADDR. The same throttle guards the login form, the API's
token endpoint and the admin login.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from rest_framework.settings import api_settings

from accounts.ratelimit import parse_rate, rate_take

DEFAULT_USER_RATE = "20/hour"


def client_address(request: HttpRequest) -> str:
    """Return the client's address as the trusted proxies report it."""
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = int(getattr(settings, "DOJO_TRUSTED_PROXIES", 0) or 0)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies <= 0 or not forwarded:
        return remote
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    return hops[-min(proxies, len(hops))] if hops else remote


def login_refusal(request: HttpRequest, *, username: str) -> int | None:
    """Count one login attempt; return the seconds to wait if it is refused."""
    rates = api_settings.DEFAULT_THROTTLE_RATES
    waits = []
    for key, rate in (
        (f"login:addr:{client_address(request)}", rates.get("login")),
        (
            f"login:user:{username.strip().lower()[:150]}",
            rates.get("login_user", DEFAULT_USER_RATE),
        ),
    ):
        if rate:
            limit, window = parse_rate(rate)
            if (wait := rate_take(key=key, limit=limit, window=window)) is not None:
                waits.append(wait)
    return max(waits) if waits else None


def refusal_message(wait: int) -> str:
    """Return what a refused login is told."""
    return f"Too many login attempts. Wait {wait} seconds, then try again."
