"""Settings for `make run` on a laptop: embedded defaults, debug on."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["*"])
# A laptop demo: `make run` creates the published demo logins (dojo_setup).
DOJO_DEMO_USERS = env.bool("DOJO_DEMO_USERS", default=True)

# runserver answers each request in a new thread, and a persistent connection
# belongs to its thread: with CONN_MAX_AGE > 0 each request left one open until
# PostgreSQL refused more ("too many clients"). Django's docs say not to use
# persistent connections with the development server.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
