"""A signed-in client's share of a web process (web/fairness.py), in front of the
real Django application, as gunicorn and runserver load it (config.wsgi)."""

import io

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.test.utils import CaptureQueriesContext

from web.fairness import ClientShare, client_share_check

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """The real handler closes the database connection after each request, as
    a server's should; the test's transaction needs it (Django's test client
    does the same)."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _get(app, path="/accounts/login/", cookie="", auth=""):
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
    }
    if cookie:
        environ["HTTP_COOKIE"] = cookie
    if auth:
        environ["HTTP_AUTHORIZATION"] = auth
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = int(status.split()[0]), dict(headers)

    body = b"".join(app(environ, start_response))
    return answer["status"], answer["headers"], body


def test_a_client_past_its_share_is_refused_before_django_runs():
    """One session asking as fast as it can gets its burst, then 429s that cost
    no query; another session, an API token and anonymous visitors are still
    answered; the share comes back with time."""
    clock = Clock()
    app = ClientShare(WSGIHandler(), rate=2.0, burst=3, clock=clock)
    greedy = "theme=dark; sessionid=greedy-session"
    assert [_get(app, cookie=greedy)[0] for _ in range(3)] == [200] * 3
    with CaptureQueriesContext(connection) as queries:
        status, headers, body = _get(app, cookie=greedy)
    assert status == 429 and headers["Retry-After"] == "1"
    assert b"Wait a moment" in body
    assert len(queries) == 0, "a refused request must not reach Django"
    assert _get(app, cookie="sessionid=someone-else")[0] == 200
    assert _get(app)[0] == 200  # anonymous: left to the login throttle
    assert _get(app, auth="Token abc")[0] == 200
    clock.now += 0.5  # one token back at 2 a second
    assert _get(app, cookie=greedy)[0] == 200
    assert _get(app, cookie=greedy)[0] == 429


def test_the_deployed_application_gives_each_client_its_share(settings):
    """gunicorn and runserver load config.wsgi.application: the share wraps it,
    with the settings' rate and burst."""
    from config import wsgi

    assert isinstance(wsgi.application, ClientShare)
    assert wsgi.application.rate == settings.DOJO_WEB_CLIENT_RATE
    assert wsgi.application.burst == settings.DOJO_WEB_CLIENT_BURST
    assert wsgi.application.cookie_name == settings.SESSION_COOKIE_NAME


@pytest.mark.parametrize(
    "rate, burst, named",
    [
        (-1, 40, "DOJO_WEB_CLIENT_RATE"),
        (float("nan"), 40, "DOJO_WEB_CLIENT_RATE"),
        ("ten", 40, "DOJO_WEB_CLIENT_RATE"),
        (10, 0, "DOJO_WEB_CLIENT_BURST"),
        (10, 2.5, "DOJO_WEB_CLIENT_BURST"),
    ],
)
def test_bad_share_settings_are_refused_naming_the_setting(rate, burst, named):
    with pytest.raises(ValueError, match=named):
        client_share_check(rate=rate, burst=burst)
    assert client_share_check(rate=0, burst=1) == (0.0, 1)  # 0: the share is off
