"""The login throttle: it locks the guesser, not the account.

Only failed logins count. A login is counted as a failure when it starts (one
atomic UPDATE per counter, so parallel guesses cannot all slip under a limit)
and given back when the password proves right or the login is refused before
the password is checked. Three counters:

- per (address, username), ``login_pair``: past it, that address may not try
  that username again until the window ends, even with the right password;
- per address, ``login``, and per username whatever the address,
  ``login_user``: past either, an address that has already failed for that
  username (in the pair's window) is refused, but one that has not been
  guessing still has its login checked. Guessing wrong on purpose therefore
  cannot lock the instructor out, nor a room that shares one address; each
  guessing address gets one more try per username, no more.

The address is the one the trusted proxy reports: with ``DOJO_TRUSTED_PROXIES``
proxies in front, the client is that many entries from the end of
X-Forwarded-For (what a client writes itself comes before); with none (the
default), REMOTE_ADDR. The same throttle guards the login form, the API's
token endpoint and the admin login.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.http import HttpRequest
from rest_framework.settings import api_settings

from accounts.ratelimit import (
    parse_rate,
    rate_hit,
    rate_release,
    rate_take,
    rate_wait,
)

DEFAULT_PAIR_RATE = "10/hour"
DEFAULT_USER_RATE = "20/hour"


@dataclass
class LoginAttempt:
    """One login counted as a failure until ``succeeded`` gives it back."""

    wait: int | None = None
    taken: list[tuple[str, int, float]] = field(default_factory=list)

    def succeeded(self) -> None:
        """Give back what this login counted: it was not a wrong password."""
        for key, window, taken_at in self.taken:
            rate_release(key=key, window=window, taken_at=taken_at)
        self.taken.clear()


def client_address(request: HttpRequest) -> str:
    """Return the client's address as the trusted proxies report it."""
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = int(getattr(settings, "DOJO_TRUSTED_PROXIES", 0) or 0)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies <= 0 or not forwarded:
        return remote
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    return hops[-min(proxies, len(hops))] if hops else remote


def login_attempt_start(request: HttpRequest, *, username: str) -> LoginAttempt:
    """Count one login as a failure; ``wait`` is set when it is refused.

    Call ``succeeded()`` on the result once the password proved right.
    """
    rates = api_settings.DEFAULT_THROTTLE_RATES
    address = client_address(request)
    name = username.strip().lower()[:150]
    attempt = LoginAttempt()
    limit, pair_window = parse_rate(rates.get("login_pair") or DEFAULT_PAIR_RATE)
    pair_key = f"login:pair:{address}:{name}"
    count, pair_at = rate_hit(key=pair_key, window=pair_window)
    attempt.taken.append((pair_key, pair_window, pair_at))
    pair_wait = rate_wait(window=pair_window, taken_at=pair_at)
    if count > limit:
        attempt.succeeded()
        attempt.wait = pair_wait
        return attempt
    guessed_before = count > 1
    for key, rate in (
        (f"login:addr:{address}", rates.get("login")),
        (f"login:user:{name}", rates.get("login_user") or DEFAULT_USER_RATE),
    ):
        if not rate:
            continue
        limit, window = parse_rate(rate)
        count, taken_at = rate_hit(key=key, window=window)
        attempt.taken.append((key, window, taken_at))
        if count > limit and guessed_before:
            # Refused until either this address's failures for the username
            # or the shared window run out, whichever comes first.
            shared_wait = rate_wait(window=window, taken_at=taken_at)
            attempt.wait = max(attempt.wait or 0, min(pair_wait, shared_wait))
    if attempt.wait is not None:
        attempt.succeeded()
    return attempt


def refusal_message(wait: int) -> str:
    """Return what a refused login is told."""
    return f"Too many failed login attempts. Wait {wait} seconds, then try again."


def signup_refusal(request: HttpRequest) -> int | None:
    """Count one account made from this address; return the wait if past the rate."""
    rate = api_settings.DEFAULT_THROTTLE_RATES.get("signup")
    if not rate:
        return None
    limit, window = parse_rate(rate)
    key = f"signup:addr:{client_address(request)}"
    return rate_take(key=key, limit=limit, window=window)
