"""Drive Debian's chromium with Playwright against the live server."""

import os
from pathlib import Path

import pytest

from tests.helpers import wait_for_other_sessions

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
    wait_for_other_sessions()


@pytest.fixture
def shoot():
    """Save a full-page screenshot under test-output/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(page, name: str) -> None:
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    return save
