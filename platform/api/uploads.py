"""The API's answer to an oversized upload, and the lane uploads take."""

import collections
import contextlib
import threading
from collections.abc import Iterator

from rest_framework import status
from rest_framework.exceptions import APIException

from submissions.uploads import too_large_message

# Uploads run one at a time in each web process. gunicorn.conf.py gives each
# process 8 threads: a class uploading at once then queues for the lane, as it
# queued for a process on sync workers, while the other threads answer the
# pages the room watches at once, beside at most one upload per process
# instead of behind a dozen.
UPLOADS_AT_ONCE = 1


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


class UploadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "upload_too_large"

    def __init__(self) -> None:
        super().__init__(detail=too_large_message())
