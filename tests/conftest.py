"""Fixtures shared by the whole suite: real workers, real packs, real users."""

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import ROOT, WorkerProcess, stop_all, wait_for_other_sessions
from tests.netns import netns  # noqa: F401 (a runner's own network, a fixture)

# Playwright's sync API runs an event loop in the test thread; Django's ORM then
# refuses to run without this (measured: see shared NOTES).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PACK = ROOT / "assignments" / "dl101"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Fail loudly when CI lacks a service the suite needs, never skip."""
    if os.environ.get("CI"):
        missing = [n for n in ("REDIS_URL", "DATABASE_URL") if not os.environ.get(n)]
        if missing:
            raise pytest.UsageError(f"CI must set {', '.join(missing)}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Remove this run's files (uploads, models, work dirs, embedded broker)."""
    from django.conf import settings

    if getattr(settings, "RUN_DIR", None) and not os.environ.get(
        "DOJO_KEEP_TEST_FILES"
    ):
        from workers.sandbox import CleanupError, remove_tree

        # remove_tree also detaches work dirs that are still sized tmpfs mounts.
        with contextlib.suppress(CleanupError):
            remove_tree(settings.RUN_DIR)


def _purge_queues() -> None:
    from config.celery_app import QUEUES, app

    with app.connection_for_write() as conn:
        channel = conn.default_channel
        for name in QUEUES:
            try:
                channel.queue_purge(name)
            except Exception:  # noqa: BLE001 - a queue never declared is empty
                pass


@pytest.fixture(scope="session")
def start_worker(
    django_db_setup, django_db_blocker, tmp_path_factory
) -> Iterator[Callable[..., WorkerProcess]]:
    """Return a factory of real worker processes; all are stopped at the end."""
    started: list[WorkerProcess] = []

    def start(**kwargs) -> WorkerProcess:
        with django_db_blocker.unblock():
            log = tmp_path_factory.mktemp("worker") / "worker.log"
            worker = WorkerProcess(log=log, **kwargs)
        started.append(worker)
        return worker

    start.started = started  # type: ignore[attr-defined]
    with django_db_blocker.unblock():
        _purge_queues()
    yield start
    stop_all(started)


@pytest.fixture(scope="session")
def _shared_worker() -> dict:
    return {}


@pytest.fixture
def celery_worker(start_worker, _shared_worker) -> WorkerProcess:
    """A worker shared by end-to-end tests (which need transactional_db).

    Restarted when a test killed it on purpose.
    """
    worker = _shared_worker.get("worker")
    if worker is None or worker.process.poll() is not None:
        worker = _shared_worker["worker"] = start_worker()
    return worker


@pytest.fixture
def empty_queues(django_db_blocker) -> None:
    """Start with this run's queues empty: a spare starts only when nothing
    waits, and an earlier test's message, sent with no worker to take it,
    would count as waiting work."""
    with django_db_blocker.unblock():
        _purge_queues()


@pytest.fixture(autouse=True)
def _quiet_before_the_flush(request):
    """Let other sessions of the test database finish before a transactional
    test's flush: a worker's reconciler or heartbeat mid-transaction can hold
    the locks the flush's TRUNCATE waits on, and PostgreSQL then ends one of
    them as a deadlock (the next test would start on this one's rows)."""
    marker = request.node.get_closest_marker("django_db")
    by_name = {"transactional_db", "live_server"} & set(request.fixturenames)
    if by_name:
        # Set up after the database fixture, so torn down before its flush.
        request.getfixturevalue("transactional_db")
    yield
    if by_name or (marker is not None and marker.kwargs.get("transaction")):
        wait_for_other_sessions(quiet=0.1)


@pytest.fixture
def workshop(db):
    """The DL101 workshop, loaded from its pack as `make run` does."""
    from workshops.services import workshop_load_pack

    return workshop_load_pack(path=PACK)


def _user(username: str, workshop, role: str):
    from accounts.services import user_ensure
    from workshops.services import enrollment_add

    user = user_ensure(username=username, password=f"{username}-pass-123")
    enrollment_add(workshop=workshop, user=user, role=role)
    return user


@pytest.fixture
def participant(workshop):
    return _user("ada", workshop, "participant")


@pytest.fixture
def other_participant(workshop):
    return _user("grace", workshop, "participant")


@pytest.fixture
def instructor(workshop):
    return _user("ines", workshop, "instructor")


@pytest.fixture
def own_data_root(settings, tmp_path) -> Path:
    """Give this test its own assignment and workshop folders ("nothing stored"
    is then about this test alone); built datasets stay shared
    (DOJO_DATA_CACHE_ROOT)."""
    root = tmp_path / "data"
    root.mkdir()
    settings.DOJO_DATA_ROOT = root
    return root


@pytest.fixture
def outbox(monkeypatch) -> list[dict]:
    """Record each message that would leave for the broker instead of sending it.

    The one fake of the broker: every service sends through
    `jobs.outbox.transport`, so nothing reaches a queue while this is on.
    """
    from jobs import outbox as box

    sent: list[dict] = []

    def record(task: str, args: list, queue: str, **options) -> None:
        sent.append({"task": task, "args": args, "queue": queue, **options})

    monkeypatch.setattr(box, "transport", record)
    return sent
