"""Each signed-in client's share of a web process, enforced before Django runs.

A script asking as fast as it is answered (one participant, ten threads) was
answered about 140 times a second by the whole stack, session and user read
and the rate limit's own row written, only to be told 429: more than a core of
two, and the room's leaderboard p95 went from 22 to 214 ms (bench/abuse.py).
Django's limits decide what a request may do; this decides how often one
client is heard at all, at the cost of a dictionary lookup.

A client is its session cookie or its API token. Each gets a token bucket per
web process: ``rate`` requests a second, up to ``burst`` at once (a page and
its static files, an editor's saves and polls stay far below). A request
beyond it is answered 429 with Retry-After before any of Django runs.
Requests that carry neither (the login page, a guesser) are left to the
login throttle: keyed by address they would put a whole classroom behind one
NAT in one bucket.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

REFUSAL = (
    b"Too many requests from this session at once: the site answers each "
    b"participant a share of its time. Wait a moment and try again.\n"
)
MAX_CLIENTS = 10_000  # buckets kept per process; the oldest goes first


def _client_key(environ: dict, cookie_name: str) -> str | None:
    """Return the client a request speaks for (a digest), or None if anonymous."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if auth[:6].lower() in ("token ", "bearer"):
        return hashlib.sha256(auth.encode("latin-1", "replace")).hexdigest()
    cookies = environ.get("HTTP_COOKIE", "")
    prefix = cookie_name + "="
    for part in cookies.split(";"):
        part = part.strip()
        if part.startswith(prefix) and len(part) > len(prefix):
            return hashlib.sha256(part.encode("latin-1", "replace")).hexdigest()
    return None


class ClientShare:
    """WSGI middleware: a token bucket per signed-in client (see the module)."""

    def __init__(
        self,
        app: Callable,
        *,
        rate: float,
        burst: int,
        cookie_name: str = "sessionid",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app, self.rate, self.burst = app, rate, burst
        self.cookie_name, self.clock = cookie_name, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def admit(self, key: str) -> bool:
        """Take one token from ``key``'s bucket; return False when it is empty."""
        now = self.clock()
        with self._lock:
            tokens, then = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate)
            admitted = tokens >= 1.0
            self._buckets[key] = (tokens - 1.0 if admitted else tokens, now)
            while len(self._buckets) > MAX_CLIENTS:
                self._buckets.popitem(last=False)
        return admitted

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if self.rate > 0:
            key = _client_key(environ, self.cookie_name)
            if key is not None and not self.admit(key):
                start_response(
                    "429 Too Many Requests",
                    [
                        ("Content-Type", "text/plain; charset=utf-8"),
                        ("Content-Length", str(len(REFUSAL))),
                        ("Retry-After", "1"),
                    ],
                )
                return [REFUSAL]
        return self.app(environ, start_response)


def client_share_check(*, rate: object, burst: object) -> tuple[float, int]:
    """Return the settings as numbers, or say which is wrong and why."""
    import math

    if not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate < 0:
        raise ValueError(
            f"DOJO_WEB_CLIENT_RATE must be a number of requests a second, 0 or "
            f"more (0 turns the share off); it is {rate!r}."
        )
    if not isinstance(burst, int) or isinstance(burst, bool) or burst < 1:
        raise ValueError(
            f"DOJO_WEB_CLIENT_BURST must be a whole number of requests, 1 or "
            f"more; it is {burst!r}."
        )
    return float(rate), burst
