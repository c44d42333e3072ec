"""Drive Debian's chromium with Playwright against the live server."""

import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in the test thread (see shared NOTES).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture(autouse=True)
def _close_pages_before_the_flush(request):
    """Close every browser context a test opened before its database is flushed.

    A page left open keeps polling and saving (help queue, autosave), and its
    request can hold a row lock while the flush truncates: a deadlock, and the
    next test then starts on the last one's rows. Set up after the database
    fixture, so torn down before it.
    """
    if "live_server" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("transactional_db")
    browser = request.getfixturevalue("browser")
    yield
    for context in list(browser.contexts):
        # Offline first: closing a page sends its last save (a beacon), which
        # would reach the live server while the flush truncates.
        context.set_offline(True)
        context.close()
    _wait_for_other_sessions()


def _wait_for_other_sessions(timeout: float = 10.0, quiet: float = 0.3) -> None:
    """Wait until no other PostgreSQL session of this database has been mid-query
    for ``quiet`` seconds: a request the pages sent before they closed can still
    hold row locks the flush's TRUNCATE would deadlock with. SQLite serialises
    writers and needs no wait.
    """
    import time

    from django.db import connection

    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                "current_database() AND pid <> pg_backend_pid() AND state <> 'idle'"
            )
            if cursor.fetchone()[0]:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= quiet:
                return
            time.sleep(0.05)


@pytest.fixture
def shoot():
    """Save a full-page screenshot under test-output/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(page, name: str) -> None:
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    return save
