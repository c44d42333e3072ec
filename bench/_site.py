"""What the benchmarks share: a throwaway test database (like the suite's), a web
process serving it, enrolled participants and an upload through the API."""

import atexit
import contextlib
import functools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUNICORN_CONFIG = ROOT / "gunicorn.conf.py"
sys.path[:0] = [str(ROOT / "platform"), str(ROOT)]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")


@contextlib.contextmanager
def test_database() -> Iterator[None]:
    """Create a fresh test database (SQLite or DATABASE_URL) and drop it after."""
    import django
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    django.setup()
    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        yield
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()
        # At exit, not here: a bench may open the database again (burst.py's
        # passes with spares on and off share the run's prepared files).
        atexit.register(_remove_run_dir)


@functools.cache
def _remove_run_dir() -> None:
    """Remove this run's files, as the suite does at its end (tests/conftest.py).

    The test settings give each run its own folder; a bench left 13 MB there and
    the sized tmpfs work dirs of workers that were killed mounted.
    """
    from django.conf import settings

    run_dir = getattr(settings, "RUN_DIR", None)
    if run_dir is None or os.environ.get("DOJO_KEEP_TEST_FILES"):
        return
    from workers.sandbox import CleanupError, remove_tree

    try:
        remove_tree(run_dir)
    except CleanupError as exc:
        print(f"Could not remove {run_dir}: {exc}")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_web(
    port: int, log: Path, server: str, options: tuple[str, ...] = ()
) -> subprocess.Popen:
    """Serve the test database: gunicorn as the Dockerfile runs it, or runserver.

    `options` go on gunicorn's command line (they win over gunicorn.conf.py).
    """
    from django.db import connection

    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'platform'}{os.pathsep}{ROOT}",
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DOJO_TEST_DATABASE_NAME": str(connection.settings_dict["NAME"]),
    }
    if server == "gunicorn":
        # The Dockerfile's command: gunicorn.conf.py's processes and threads.
        argv = [
            str(Path(sys.executable).with_name("gunicorn")),
            "config.wsgi:application",
            "--config",
            str(GUNICORN_CONFIG),
            "--bind",
            f"127.0.0.1:{port}",
            *options,
        ]
    else:
        argv = [
            sys.executable,
            "manage.py",
            "runserver",
            f"127.0.0.1:{port}",
            "--noreload",
        ]
    process = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return process
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the web process did not start:\n{log.read_text()}")


def enrolled_participants(count: int, workshop) -> list[tuple[str, str]]:
    """Return (username, API token) of `count` enrolled participants."""
    from rest_framework.authtoken.models import Token

    from accounts.services import user_ensure
    from workshops.services import enrollment_add

    people = []
    for i in range(count):
        user = user_ensure(username=f"burst{i:03d}", password="burst-pass-123")
        enrollment_add(workshop=workshop, user=user)
        people.append((user.username, Token.objects.get_or_create(user=user)[0].key))
    return people


def post_submission(
    base: str, token: str, code: bytes, name: str
) -> tuple[int, str, int, float]:
    """Upload ``code`` for the MLP through the API; return (status, detail, id, s)."""
    import requests

    start = time.perf_counter()
    response = requests.post(
        f"{base}/api/submissions/",
        headers={"Authorization": f"Token {token}"},
        data={"assignment": "mlp"},
        files={"file": (name, code)},
        timeout=120,
    )
    body = (
        response.json()
        if response.headers.get("content-type", "").startswith("application/json")
        else {}
    )
    took = time.perf_counter() - start
    detail = str(body.get("detail", ""))[:80]
    return response.status_code, detail, body.get("id", 0), took
