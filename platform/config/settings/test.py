"""Settings for the test suite: the same services as production where configured."""

import os
from pathlib import Path

from .base import *  # noqa: F403
from .base import (
    CACHES,
    CELERY_BROKER_TRANSPORT_OPTIONS,
    DATABASES,
    REDIS_URL,
    REST_FRAMEWORK,
    VAR_DIR,
    env,
)

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Each test run (and the workers it starts, which inherit the variable) gets its
# own files, database and embedded broker, so two runs on one machine never meet.
# Built datasets are shared: they depend only on their content.
RUN_ID = os.environ.setdefault("DOJO_TEST_RUN_ID", str(os.getpid()))
# pytest-xdist's processes inherit the controller's variable: each adds its own
# name once (the workers a test starts inherit the suffixed one).
_XDIST = os.environ.get("PYTEST_XDIST_WORKER", "")
if _XDIST and not RUN_ID.endswith(f"_{_XDIST}"):
    RUN_ID = os.environ["DOJO_TEST_RUN_ID"] = f"{RUN_ID}_{_XDIST}"
TEST_VAR_DIR = VAR_DIR / "test"
RUN_DIR = TEST_VAR_DIR / f"run-{RUN_ID}"
RUN_DIR.mkdir(parents=True, exist_ok=True)
MEDIA_ROOT = RUN_DIR / "media"
# Each run's assignments get their own folders: two runs' databases number
# their assignments alike, and a transfer assignment's base.keras under one
# run's id showed up as a download on another run's CNN page.
DOJO_DATA_ROOT = RUN_DIR / "data"
DOJO_DATA_CACHE_ROOT = TEST_VAR_DIR / "data" / "cache"
# A test may point a worker at another disk (a full one, say).
DOJO_ARTIFACT_ROOT = Path(env("DOJO_ARTIFACT_ROOT", default=str(RUN_DIR / "artifacts")))
DOJO_WORK_ROOT = RUN_DIR / "work"
# A test may point a web process it starts at its own folder.
DOJO_RUNNER_UPLOAD_ROOT = Path(
    env("DOJO_RUNNER_UPLOAD_ROOT", default=str(RUN_DIR / "runner-uploads"))
)
DOJO_LOG_FLUSH_SECONDS = 0.5
# Spares stay off in tests unless a test turns them on (tests/jobs/
# test_spares.py) or DOJO_SPARES is set: a spare outlives the test that made it.
DOJO_SPARES = env.bool("DOJO_SPARES", default=False)
# A small slice of Fashion-MNIST keeps every training in the suite to seconds.
DOJO_DATASET_TRAIN_PER_CLASS = env.int("DOJO_DATASET_TRAIN_PER_CLASS", default=200)
DOJO_DATASET_TEST_PER_CLASS = env.int("DOJO_DATASET_TEST_PER_CLASS", default=60)
# Check runs see a smaller slice than the suite's training split, so a test can
# tell the two apart from inside the sandbox.
DOJO_CHECK_TRAIN_PER_CLASS = env.int("DOJO_CHECK_TRAIN_PER_CLASS", default=50)
DOJO_CHECK_PUBLIC_PER_CLASS = env.int("DOJO_CHECK_PUBLIC_PER_CLASS", default=20)
# Six test runs share two cores: a check that takes seconds alone may take minutes.
DOJO_CHECK_WALL_SECONDS = env.int("DOJO_CHECK_WALL_SECONDS", default=400)
ALLOWED_HOSTS = ["*"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {
        "submissions": "1000/hour",
        # A bench sets the production rates here (bench/abuse.py).
        "login": env("DOJO_TEST_LOGIN_RATE", default="1000/minute"),
        "login_user": env("DOJO_TEST_LOGIN_USER_RATE", default="1000/minute"),
        "login_pair": env("DOJO_TEST_LOGIN_PAIR_RATE", default="1000/minute"),
        "signup": "1000/minute",
    },
}
# Page tests open code pages many times; a bench sets the production rate here.
DOJO_CODE_PAGES_PER_MINUTE = env.int("DOJO_TEST_CODE_PAGES_PER_MINUTE", default=1000)
CELERY_BROKER_URL = env(
    "CELERY_BROKER_URL",
    default=REDIS_URL or f"sqla+sqlite:///{RUN_DIR / 'broker.sqlite3'}",
)
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Runs on one machine share one Redis: a key prefix gives each run (and the
    # workers it starts) its own queues and cache, so a worker of one run never
    # takes, and drops, a job of another.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        **CELERY_BROKER_TRANSPORT_OPTIONS,
        "global_keyprefix": f"dojo-test-{RUN_ID}:",
    }
if REDIS_URL:
    CACHES = {"default": {**CACHES["default"], "KEY_PREFIX": f"dojo-test-{RUN_ID}"}}

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not memory: end-to-end tests run a real worker in another process.
    DATABASES["default"]["TEST"] = {"NAME": str(RUN_DIR / "test-db.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_dojo_{RUN_ID}"}
# A worker started by a test reads the test database, not the default one.
if env("DOJO_TEST_DATABASE_NAME", default=""):
    DATABASES["default"]["NAME"] = env("DOJO_TEST_DATABASE_NAME")
# Tests queue many submissions without a worker; the fair-share cap is tested
# on its own (tests/e2e/test_fair_share.py).
DOJO_QUEUED_PER_PARTICIPANT = env.int("DOJO_QUEUED_PER_PARTICIPANT", default=1000)
