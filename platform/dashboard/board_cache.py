"""The leaderboard's ranked rows, computed once per change and shared.

A page of the ranking's rows, and the ranking's length, are cached under the
workshop's board token (workshops/boards.py), the assignment, the part and
the page: in Django's cache, which every web process shares (Redis where
REDIS_URL is set, the database cache on the embedded default), and in a small
memo of this process in front of it. A request reads the token (with the
assignment, or one query on a primary key) and, while nothing on the board
changed, takes the rows from
the memo or the cache: its cost does not grow with the class. A change renews
the token after it commits, so the next load computes the page afresh;
entries also expire after BOARD_CACHE_SECONDS, which bounds what a lost
renewal (a process killed between a commit and its renewal) leaves stale.

Rows are cached with the private accuracy; what a viewer may not see is taken
out per request (`include_private`), as are their own row and rank.
"""

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable

from django.core.cache import cache

from dashboard.standings import leaderboard, leaderboard_count
from workshops.boards import board_version
from workshops.models import Assignment

BOARD_CACHE_SECONDS = 60
MEMO_ENTRIES = 256

# key -> (expires at, value); the least recently used goes first.
_memo: OrderedDict[str, tuple[float, object]] = OrderedDict()
_memo_lock = threading.Lock()


def _memo_get(key: str, now: float) -> tuple | None:
    with _memo_lock:
        found = _memo.get(key)
        if found is None or found[0] <= now:
            return None
        _memo.move_to_end(key)
        return found


def _memo_put(key: str, value: tuple) -> None:
    with _memo_lock:
        _memo[key] = value
        _memo.move_to_end(key)
        while len(_memo) > MEMO_ENTRIES:
            _memo.popitem(last=False)


def memo_clear() -> None:
    """Forget this process's copies, as a newly started process has none."""
    with _memo_lock:
        _memo.clear()


def _cached(key: str, compute: Callable[[], object]) -> object:
    """Return the memo's, else the shared cache's, else a fresh ``compute()``."""
    now = time.time()
    found = _memo_get(key, now)
    if found is None:
        found = cache.get(key)
        if found is None or found[0] <= now:
            found = (now + BOARD_CACHE_SECONDS, compute())
            cache.set(key, found, BOARD_CACHE_SECONDS)
        _memo_put(key, found)
    return found[1]


def leaderboard_page(
    *,
    assignment: Assignment,
    part: str,
    include_private: bool,
    page: int,
    size: int,
    token: uuid.UUID | None = None,
) -> tuple[int, int, list[dict]]:
    """Return the ranking's length, the page shown and its rows (see the module).

    The page shown is ``page``, or the last one where ``page`` is past it. The
    rows are those of `dashboard.standings.leaderboard`, private accuracy left
    out of the public ranking unless ``include_private``. ``token`` is the
    board token if this request read it already, with the assignment
    (`assignment_for_member(board_token=True)`); never one kept from earlier.
    """
    # The token first, the rows after: rows read before a change committed
    # are only ever kept under the token that change replaces.
    if token is None:
        token = board_version(workshop_id=assignment.workshop_id)
    base = f"dojo:board:{assignment.pk}:{token.hex}:{part}"
    count = _cached(
        f"{base}:count", lambda: leaderboard_count(assignment=assignment, part=part)
    )
    page = min(max(page, 1), max(1, -(-count // size)))
    rows = _cached(
        f"{base}:{page}:{size}",
        lambda: tuple(
            leaderboard(
                assignment=assignment,
                include_private=True,
                part=part,
                offset=(page - 1) * size,
                limit=size,
            )
        ),
    )
    hide_private = part == "public" and not include_private
    return (
        count,
        page,
        [
            {**row, "private_accuracy": None} if hide_private else dict(row)
            for row in rows
        ],
    )
