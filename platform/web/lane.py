"""The lane uploads take: two at a time in each web process, in arrival order.

Every way in takes it (the API, the assignment page's form, the editor's
Submit), so a class submitting at once queues here, whichever page it uses,
while the other threads answer the pages the room watches.
"""

import collections
import contextlib
import threading
from collections.abc import Iterator

# A class uploading at once queues for the lane, as it queued for a process on
# sync workers, while the other threads of the process (gunicorn.conf.py gives
# 16) answer the pages the room watches beside at most two uploads. One at a
# time left the process waiting on the database with the CPU idle (each of
# three processes used a third of a core in the 16-client burst, the machine
# 80%); two took the burst's upload p95 from 0.73-1.12 s to 0.63-0.86 s with
# the leaderboard p95 still under 100 ms (docs/architecture.md).
UPLOADS_AT_ONCE = 2


class _Lane:
    """Let ``size`` holders in at once, strictly in the order they asked.

    A freed place is handed to the longest waiter, never taken by a thread
    that just arrived (a plain semaphore lets newcomers barge in, and a burst's
    slowest uploads then waited several times the median).
    """

    def __init__(self, size: int) -> None:
        self._lock = threading.Lock()
        self._free = size
        self._waiting: collections.deque[threading.Lock] = collections.deque()

    def acquire(self) -> None:
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                return
            turn = threading.Lock()
            turn.acquire()
            self._waiting.append(turn)
        turn.acquire()  # released by release(): the place is handed over

    def release(self) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft().release()
            else:
                self._free += 1


_lane = _Lane(UPLOADS_AT_ONCE)


@contextlib.contextmanager
def upload_lane() -> Iterator[None]:
    """Hold this process's upload lane while an upload is read and stored."""
    _lane.acquire()
    try:
        yield
    finally:
        _lane.release()
