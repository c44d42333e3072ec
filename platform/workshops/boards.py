"""The version of what a workshop's leaderboards show (docs/standings.md).

A leaderboard page serves its ranked rows from a cache keyed by the workshop's
board token (dashboard/board_cache.py). Whatever changes a ranked row (a
standing's board entry, a participant listed or unlisted, renamed or deleted,
a rebuild) calls `board_version_bump` in its transaction; the new token is
written only after that transaction commits. A reader reads the token first,
then the rows: a reader that got the old token may store rows without the
change, but only under the old token, which no later reader is given; one
that got the new token reads the rows after the change committed.

The bump is one UPDATE in autocommit after the change's commit, so it holds
no lock inside the writer's transaction: two graders never wait for each other
on it. A process killed between the commit and the bump leaves the old token
in place; the cache's entries expire (BOARD_CACHE_SECONDS) to bound that.
"""

import uuid
from collections.abc import Iterable
from functools import partial

from django.db import IntegrityError, transaction

from workshops.models import BoardVersion, Enrollment


def board_version(*, workshop_id: int) -> uuid.UUID:
    """Return the workshop's current board token, making one on first use."""
    token = (
        BoardVersion.objects.filter(workshop_id=workshop_id)
        .values_list("token", flat=True)
        .first()
    )
    if token is None:
        try:
            with transaction.atomic():
                token = BoardVersion.objects.create(workshop_id=workshop_id).token
        except IntegrityError:  # another reader made it first: theirs holds
            token = BoardVersion.objects.values_list("token", flat=True).get(
                workshop_id=workshop_id
            )
    return token


def _renew(workshop_ids: tuple[int, ...]) -> None:
    # A workshop with no token yet has nothing cached: its first reader makes
    # a fresh one, after this change committed.
    BoardVersion.objects.filter(workshop_id__in=workshop_ids).update(token=uuid.uuid4())


def board_version_bump(*, workshop_ids: Iterable[int]) -> None:
    """Renew the workshops' board tokens once the current transaction commits."""
    ids = tuple(sorted(set(workshop_ids)))
    if ids:
        # Robust: a failed renewal must not stop the commit's other callbacks
        # (enqueueing jobs); the cache's expiry bounds what it leaves stale.
        transaction.on_commit(partial(_renew, ids), robust=True)


def board_workshops_of(*, user_id: int) -> list[int]:
    """Return the workshops whose boards may show the user (any enrollment)."""
    return list(
        Enrollment.objects.filter(user_id=user_id)
        .values_list("workshop_id", flat=True)
        .distinct()
    )
