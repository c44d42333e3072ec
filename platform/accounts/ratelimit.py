"""Atomic fixed-window rate limits kept in the database.

A cache's ``add`` + ``incr`` is atomic on Redis but not on Django's database
cache (it reads, then writes): 60 concurrent requests got 51 through a limit of
30. Here each use is one ``UPDATE ... SET count = count + 1`` on a row keyed by
the window, then a read of that row in the same transaction, which holds the
row's lock: no two requests see the same count.
"""

from __future__ import annotations

import datetime
import random
import time

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import RateCount

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """Return (allowed, window seconds) for a rate such as "20/minute"."""
    number, _, period = rate.partition("/")
    return int(number), UNITS[period.strip()[:1]]


def rate_hit(*, key: str, window: int) -> tuple[int, float]:
    """Count one use of ``key`` in its window; return (uses so far, when counted)."""
    now = time.time()
    start = int(now // window) * window
    row_key = f"{key}@{start}"[:200]
    expires = datetime.datetime.fromtimestamp(start + window, tz=datetime.UTC)
    with transaction.atomic():
        if not RateCount.objects.filter(key=row_key).update(count=F("count") + 1):
            try:
                with transaction.atomic():
                    RateCount.objects.create(key=row_key, count=1, expires_at=expires)
            except IntegrityError:  # another request created it just now
                RateCount.objects.filter(key=row_key).update(count=F("count") + 1)
        count = RateCount.objects.get(key=row_key).count
    if random.random() < 0.01:  # noqa: S311 - housekeeping, not security
        RateCount.objects.filter(expires_at__lt=timezone.now()).delete()
    return count, now


def rate_wait(*, window: int, taken_at: float) -> int:
    """Return the seconds from ``taken_at`` until its window ends (at least 1)."""
    start = int(taken_at // window) * window
    return max(1, int(start + window - taken_at))


def rate_take(*, key: str, limit: int, window: int) -> int | None:
    """Count one use of ``key``; return the seconds to wait if past ``limit``."""
    count, now = rate_hit(key=key, window=window)
    if count > limit:
        return rate_wait(window=window, taken_at=now)
    return None


def rate_release(*, key: str, window: int, taken_at: float) -> None:
    """Give back one use of ``key`` counted at ``taken_at`` (a slot now free)."""
    start = int(taken_at // window) * window
    RateCount.objects.filter(key=f"{key}@{start}"[:200], count__gt=0).update(
        count=F("count") - 1
    )
