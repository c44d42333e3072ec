"""WSGI entry point for gunicorn."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for path in (str(ROOT), str(ROOT / "platform")):
    if path not in sys.path:
        sys.path.insert(0, path)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

from django.conf import settings  # noqa: E402
from django.core.exceptions import ImproperlyConfigured  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

from web.fairness import ClientShare, client_share_check  # noqa: E402


def _application():
    django_app = get_wsgi_application()
    try:
        rate, burst = client_share_check(
            rate=settings.DOJO_WEB_CLIENT_RATE, burst=settings.DOJO_WEB_CLIENT_BURST
        )
    except ValueError as exc:
        raise ImproperlyConfigured(str(exc)) from None
    # Every signed-in client gets its share of the process before Django runs.
    return ClientShare(
        django_app, rate=rate, burst=burst, cookie_name=settings.SESSION_COOKIE_NAME
    )


application = _application()
