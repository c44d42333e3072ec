"""CSRF, upload limits, rate limits and production settings."""

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from submissions.models import Submission
from tests.api.api_builders import token_client, upload
from tests.security.test_url_walk import ENDPOINTS, build_url

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db

# POSTs that need no CSRF token, and why that is safe.
RUNNER_BEARER = (
    "A runner host's API: its credential travels in the Authorization header "
    "(or a signed URL), never in a cookie, so a browser's session gives no "
    "access and a forged request carries none."
)
CSRF_EXEMPT = {
    "api:token": "Takes a username and password and sets no cookie: a forged "
    "request gains the attacker nothing.",
    **{
        f"runner-{name}": RUNNER_BEARER
        for name in ("register", "claim", "heartbeat", "upload", "result", "file")
    },
}


def _media_files() -> set[Path]:
    root = Path(django_settings.MEDIA_ROOT)
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


@pytest.mark.parametrize(
    "endpoint",
    [e for e in ENDPOINTS if e.name not in CSRF_EXEMPT],
    ids=lambda e: e.label,
)
def test_post_without_csrf_token_is_refused(endpoint, world):
    """Every form and API call made with a session needs the CSRF token."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.owner)
    response = client.post(build_url(endpoint, world), {"file": upload()})
    assert response.status_code == 403, response.content[:300]


@pytest.mark.parametrize(
    "endpoint",
    [e for e in ENDPOINTS if CSRF_EXEMPT.get(e.name) == RUNNER_BEARER],
    ids=lambda e: e.label,
)
def test_a_browser_session_opens_no_runner_endpoint(endpoint, world):
    """The runner API is exempt from CSRF because a session is worth nothing
    there: the site's own staff, logged in, is refused without a credential."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.owner)
    response = client.post(build_url(endpoint, world), {"file": upload()})
    assert response.status_code in (400, 401, 403, 404, 405), response.status_code
    assert response.status_code != 200


def test_upload_form_refuses_post_without_csrf(participant, workshop):
    """The HTML upload form stores nothing when the CSRF token is missing."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(participant)
    url = reverse("assignment-detail", args=[workshop.slug, "mlp"])
    response = client.post(url, {"file": upload()})
    assert response.status_code == 403
    assert not Submission.objects.exists()


def test_api_with_token_needs_no_csrf(participant, workshop):
    """Token clients are not browsers: they submit without a CSRF token."""
    client = token_client(participant)
    client.enforce_csrf_checks = True
    response = client.post(
        reverse("api:submission-list"),
        {"assignment": "mlp", "file": upload()},
        format="multipart",
    )
    assert response.status_code == 201


@pytest.mark.parametrize("size", [3_000, 200_000], ids=["streamed", "announced"])
def test_oversized_upload_is_refused_and_not_stored(
    participant, workshop, settings, size
):
    """An upload over the limit gets a clear 413 and leaves nothing behind.

    The 200 KB body is refused from its Content-Length before it is parsed; the
    3 KB one passes that check, so the upload handler stops reading it at the
    limit.
    """
    settings.DOJO_UPLOAD_MAX_BYTES = 1_000
    before = _media_files()
    content = b"# padding\n" * (size // 10)
    response = token_client(participant).post(
        reverse("api:submission-list"),
        {"assignment": "mlp", "file": upload("big.py", content)},
        format="multipart",
    )
    assert response.status_code == 413
    assert "larger than the 1 KB limit" in response.json()["detail"]
    assert not Submission.objects.exists()
    assert _media_files() == before


def test_upload_handler_stops_at_the_limit(rf, settings):
    """The handler stops the parser at the limit instead of keeping the file."""
    from django.core.files.uploadhandler import MemoryFileUploadHandler
    from django.http.multipartparser import MultiPartParser

    from web.uploads import LimitedUploadHandler

    request = rf.post("/", {"file": SimpleUploadedFile("a.py", b"x" * 500_000)})
    limited = LimitedUploadHandler(request, limit=1_000)
    memory = MemoryFileUploadHandler(request)
    parser = MultiPartParser(
        request.META, request, [limited, memory], request.encoding or "utf-8"
    )
    _post, files = parser.parse()
    assert limited.exceeded
    assert "file" not in files
    assert limited.received < 1_000 + 2 * limited.chunk_size


def test_html_upload_of_oversized_file_is_refused(participant, workshop, settings):
    """The upload form says the file is too large and stores nothing."""
    settings.DOJO_UPLOAD_MAX_BYTES = 1_000
    client = Client()
    client.force_login(participant)
    before = _media_files()
    response = client.post(
        reverse("assignment-detail", args=[workshop.slug, "mlp"]),
        {"file": upload("big.py", b"# padding\n" * 300)},
        follow=True,
    )
    assert "limit" in response.content.decode()
    assert not Submission.objects.exists()
    assert _media_files() == before


def test_html_upload_announced_too_large_is_refused_unread(
    participant, workshop, settings
):
    """A body far past the limit is refused from its length, before parsing."""
    settings.DOJO_UPLOAD_MAX_BYTES = 1_000
    client = Client(enforce_csrf_checks=False)
    client.force_login(participant)
    before = _media_files()
    response = client.post(
        reverse("assignment-detail", args=[workshop.slug, "mlp"]),
        {"file": upload("big.py", b"# padding\n" * 20_000)},
    )
    assert response.status_code == 413
    assert "limit" in response.content.decode()
    assert not Submission.objects.exists()
    assert _media_files() == before


def test_upload_settings_are_sane():
    """Request bodies are capped, and an accepted submission stays in memory."""
    limit = django_settings.DOJO_UPLOAD_MAX_BYTES
    assert 0 < limit <= 10 * 1024 * 1024
    assert django_settings.FILE_UPLOAD_MAX_MEMORY_SIZE >= limit
    assert django_settings.FILE_UPLOAD_MAX_MEMORY_SIZE <= 10 * 1024 * 1024
    assert django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE is not None
    assert django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE <= 10 * 1024 * 1024
    assert django_settings.DATA_UPLOAD_MAX_NUMBER_FIELDS is not None


def _rates(settings, **rates: str) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            **rates,
        },
    }


def test_submissions_are_rate_limited(participant, workshop, settings):
    """Past the "submissions" rate, uploads get 429 until the window passes."""
    _rates(settings, submissions="2/hour")
    client = token_client(participant)
    url = reverse("api:submission-list")
    codes = [
        client.post(
            url, {"assignment": "mlp", "file": upload()}, format="multipart"
        ).status_code
        for _ in range(3)
    ]
    assert codes == [201, 201, 429]
    assert client.get(url).status_code == 200, "reading is not rate limited"


def test_token_logins_are_rate_limited(participant, settings):
    """Past the "login" rate, even the right password gets 429."""
    _rates(settings, login="3/minute")
    client = Client()
    url = reverse("api:token")
    for _ in range(3):
        client.post(url, {"username": "ada", "password": "wrong"})
    response = client.post(url, {"username": "ada", "password": "ada-pass-123"})
    assert response.status_code == 429


def test_html_logins_are_rate_limited(participant, settings):
    """Past the "login" rate, the login form refuses even the right password."""
    _rates(settings, login="3/minute")
    client = Client()
    url = reverse("login")
    for _ in range(3):
        client.post(url, {"username": "ada", "password": "wrong"})
    response = client.post(url, {"username": "ada", "password": "ada-pass-123"})
    assert response.status_code == 429
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def _production_env() -> dict[str, str]:
    # The suite sets this for Playwright; a deployment never would.
    inherited = {
        k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    return {
        **inherited,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(60),
        "DJANGO_ALLOWED_HOSTS": "dojo.example.org",
    }


# Deploy-check warnings production may keep, and why.
ACCEPTED_DEPLOY_WARNINGS = {
    "security.W005": "HSTS for subdomains is the operator's call: a workshop host "
    "may share a domain with plain-HTTP services.",
    "security.W021": "HSTS preload is hard to undo; opting in is the operator's call.",
}


def test_production_passes_the_deploy_check():
    """`manage.py check --deploy` on production settings finds nothing serious."""
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=_production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    found = set(re.findall(r"\((security\.\w+|[a-z_]+\.[EW]\d+)\)", output))
    assert found <= set(ACCEPTED_DEPLOY_WARNINGS), output


def test_production_cookie_and_header_settings():
    """Production sets secure cookies, HSTS, HTTPS redirects and strict headers."""
    names = [
        "DEBUG",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SESSION_COOKIE_HTTPONLY",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_CONTENT_TYPE_NOSNIFF",
        "X_FRAME_OPTIONS",
        "SECURE_REFERRER_POLICY",
    ]
    script = (
        "import json, django; from django.conf import settings; django.setup(); "
        f"print(json.dumps({{n: getattr(settings, n) for n in {names!r}}}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**_production_env(), "PYTHONPATH": f"{ROOT / 'platform'}:{ROOT}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values["DEBUG"] is False
    assert values["SESSION_COOKIE_SECURE"] and values["CSRF_COOKIE_SECURE"]
    assert values["SESSION_COOKIE_HTTPONLY"]
    assert values["SECURE_SSL_REDIRECT"]
    assert values["SECURE_HSTS_SECONDS"] >= 3600
    assert values["SECURE_CONTENT_TYPE_NOSNIFF"]
    assert values["X_FRAME_OPTIONS"] == "DENY"
    assert values["SECURE_REFERRER_POLICY"] in ("same-origin", "strict-origin")


def test_production_refuses_to_start_without_a_secret_key():
    """Production has no default secret key."""
    env = _production_env()
    del env["DJANGO_SECRET_KEY"]
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


@pytest.mark.parametrize("what", ["test", "hidden", "..", "test.npz"])
def test_hidden_test_split_cannot_be_downloaded(participant, workshop, what):
    """No download name reaches the hidden test split, even for a participant."""
    client = Client()
    client.force_login(participant)
    url = reverse("assignment-download", args=[workshop.slug, "mlp", what])
    assert client.get(url).status_code == 404


def _production_setting(name: str, *more: str, **env: str):
    """Return setting ``name`` (a list of values, given ``more`` names) as
    production settings make it under ``env``, in one fresh process."""
    names = (name, *more)
    script = (
        "import json, django; from django.conf import settings; django.setup(); "
        f"print(json.dumps([getattr(settings, n, None) for n in {names!r}]))"
    )
    base_env = {
        k: v for k, v in _production_env().items() if k != "DOJO_TRUSTED_PROXIES"
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**base_env, "PYTHONPATH": f"{ROOT / 'platform'}:{ROOT}", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    return values if more else values[0]


def test_production_trusts_forwarded_proto_only_behind_a_declared_proxy():
    """Published directly (compose), a client's X-Forwarded-Proto is not taken
    for HTTPS; with DOJO_TRUSTED_PROXIES set, the proxy's is. DOJO_DEMO_USERS in
    a production environment does not turn the published demo logins on (only
    the local, demo, settings allow them): asked in the same process."""
    header, demo = _production_setting(
        "SECURE_PROXY_SSL_HEADER", "DOJO_DEMO_USERS", DOJO_DEMO_USERS="1"
    )
    assert header is None and demo is False
    assert _production_setting("SECURE_PROXY_SSL_HEADER", DOJO_TRUSTED_PROXIES="1") == [
        "HTTP_X_FORWARDED_PROTO",
        "https",
    ]
