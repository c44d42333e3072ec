"""Settings for the test suite: the same services as production where configured."""

from .base import *  # noqa: F403
from .base import VAR_DIR, env

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests keep their files apart from a developer's var/.
TEST_VAR_DIR = VAR_DIR / "test"
TEST_VAR_DIR.mkdir(parents=True, exist_ok=True)
MEDIA_ROOT = TEST_VAR_DIR / "media"
DOJO_DATA_ROOT = TEST_VAR_DIR / "data"
DOJO_ARTIFACT_ROOT = TEST_VAR_DIR / "artifacts"
DOJO_WORK_ROOT = TEST_VAR_DIR / "work"
DOJO_LOG_FLUSH_SECONDS = 0.5
ALLOWED_HOSTS = ["*"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_THROTTLE_RATES": {"submissions": "1000/hour", "login": "1000/minute"},
}
CELERY_BROKER_URL = env(
    "CELERY_BROKER_URL",
    default=REDIS_URL or f"sqla+sqlite:///{TEST_VAR_DIR / 'broker.sqlite3'}",  # noqa: F405
)

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # A file, not memory: end-to-end tests run a real worker in another process.
    DATABASES["default"]["TEST"] = {"NAME": str(TEST_VAR_DIR / "test-db.sqlite3")}  # noqa: F405
# A worker started by a test reads the test database, not the default one.
if env("DOJO_TEST_DATABASE_NAME", default=""):
    DATABASES["default"]["NAME"] = env("DOJO_TEST_DATABASE_NAME")  # noqa: F405
