"""Settings shared by every environment; everything that varies comes from the env."""

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

ROOT_DIR = Path(__file__).resolve().parents[3]
PLATFORM_DIR = ROOT_DIR / "platform"

env = environ.Env()
environ.Env.read_env(ROOT_DIR / ".env", overwrite=False)

VAR_DIR = Path(env("DOJO_VAR_DIR", default=str(ROOT_DIR / "var")))

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="dojo-local-insecure-key-change-me")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "accounts",
    "workshops",
    "jobs",
    "submissions",
    "dashboard",
    "api",
    "workspace",
    "checks",
    "runners",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [ROOT_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dashboard.context_processors.dojo",
            ],
        },
    },
]


def _database() -> dict:
    """Return the default database: DATABASE_URL, else SQLite in WAL mode."""
    if env("DATABASE_URL", default=""):
        db = env.db("DATABASE_URL")
        db.setdefault("CONN_MAX_AGE", env.int("DJANGO_CONN_MAX_AGE", default=60))
        return db
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": VAR_DIR / "dojo.sqlite3",
        "OPTIONS": {
            # WAL lets the web server read while a worker writes a log.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        },
    }


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_VALIDATORS = "django.contrib.auth.password_validation"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"{_VALIDATORS}.UserAttributeSimilarityValidator"},
    {"NAME": f"{_VALIDATORS}.MinimumLengthValidator"},
    {"NAME": f"{_VALIDATORS}.CommonPasswordValidator"},
    {"NAME": f"{_VALIDATORS}.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [ROOT_DIR / "static"]
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage",
    },
}

# Uploads: a submission is small source code; refuse anything big before reading it.
DOJO_UPLOAD_MAX_BYTES = env.int("DOJO_UPLOAD_MAX_BYTES", default=1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Workshop packs an instructor imports (workshops/pack_archive.py): the archive's
# size, its members, and the bytes it may unpack to (counted while reading).
DOJO_PACK_MAX_BYTES = env.int("DOJO_PACK_MAX_BYTES", default=20 * 1024 * 1024)
DOJO_PACK_MAX_MEMBERS = env.int("DOJO_PACK_MAX_MEMBERS", default=200)
DOJO_PACK_MAX_UNPACKED_BYTES = env.int(
    "DOJO_PACK_MAX_UNPACKED_BYTES", default=50 * 1024 * 1024
)
# Distinct data sets and transfer bases an imported pack may need built: the
# import prepares them in its request (DL101 needs 3, the NLP pack 2).
DOJO_PACK_MAX_DATA_BUILDS = env.int("DOJO_PACK_MAX_DATA_BUILDS", default=4)

# Workspace drafts: a version is kept at least this often while typing, and at
# most this many per participant and assignment (oldest thinned, submitted kept).
DOJO_DRAFT_VERSION_EVERY_SECONDS = env.int(
    "DOJO_DRAFT_VERSION_EVERY_SECONDS", default=180
)
DOJO_DRAFT_MAX_VERSIONS = env.int("DOJO_DRAFT_MAX_VERSIONS", default=100)
# ...and at most this many characters in all a draft's versions together.
DOJO_DRAFT_HISTORY_MAX_CHARS = env.int(
    "DOJO_DRAFT_HISTORY_MAX_CHARS", default=8 * 1024 * 1024
)
# Jupytext's percent reader takes time that grows with cells times lines.
DOJO_DRAFT_MAX_CELLS = env.int("DOJO_DRAFT_MAX_CELLS", default=300)
# The editor saves 2 s after typing stops: about 30 a minute at most.
DOJO_DRAFT_SAVES_PER_MINUTE = env.int("DOJO_DRAFT_SAVES_PER_MINUTE", default=60)
DOJO_DRAFT_EXPORTS_PER_MINUTE = env.int("DOJO_DRAFT_EXPORTS_PER_MINUTE", default=10)
# Code pages one user may open a minute (each is read from the cache, but a
# loop of them held the web workers everyone shares).
DOJO_CODE_PAGES_PER_MINUTE = env.int("DOJO_CODE_PAGES_PER_MINUTE", default=30)
# Each signed-in client's share of a web process (web/fairness.py): requests a
# second and at once, refused 429 before Django runs; 0 turns it off.
DOJO_WEB_CLIENT_RATE = env.float("DOJO_WEB_CLIENT_RATE", default=10.0)
DOJO_WEB_CLIENT_BURST = env.int("DOJO_WEB_CLIENT_BURST", default=40)

# Where assignment data, trained models and sandbox work directories live.
DOJO_DATA_ROOT = Path(env("DOJO_DATA_ROOT", default=str(VAR_DIR / "data")))
# Datasets, bases and figures built once per content key (their names are
# digests of what they hold, so any number of sites or runs may share them).
DOJO_DATA_CACHE_ROOT = Path(
    env("DOJO_DATA_CACHE_ROOT", default=str(DOJO_DATA_ROOT / "cache"))
)
DOJO_ARTIFACT_ROOT = Path(env("DOJO_ARTIFACT_ROOT", default=str(VAR_DIR / "artifacts")))
DOJO_WORK_ROOT = Path(env("DOJO_WORK_ROOT", default=str(VAR_DIR / "work")))

# Sandbox and workers.
DOJO_SANDBOX_BACKEND = env("DOJO_SANDBOX_BACKEND", default="bwrap")
DOJO_SANDBOX_UID = env.int("DOJO_SANDBOX_UID", default=65534)
# Which cgroup hierarchy limits jobs (auto, v1, v2, none), and a fixed thread cap
# for a uid all slots share (empty: none). Validated once at start into the
# sandbox's one configuration object (workers.sandbox.SandboxConfig).
DOJO_CGROUP = env("DOJO_CGROUP", default="auto")
DOJO_SANDBOX_NPROC = env("DOJO_SANDBOX_NPROC", default="")
# The cores one training, check or evaluation sandbox may use at once (a cgroup
# CPU quota; 0: none). By default all but one of the host's, at least one, so no
# single job can take every core from the other slots. Checked at start.
DOJO_SANDBOX_CPUS = env.float(
    "DOJO_SANDBOX_CPUS", default=max(1.0, float((os.cpu_count() or 1) - 1))
)
# Each job's CPU weight against the host's own processes, 1 to 100 (a process's
# own): by default jobs yield to the pages and uploads of the site's host and
# use every cycle left (workers.sandbox._config.JOB_CPU_WEIGHT). Checked at start.
DOJO_JOB_CPU_WEIGHT = env("DOJO_JOB_CPU_WEIGHT", default="12")
DOJO_KERAS_BACKEND = env("DOJO_KERAS_BACKEND", default="tensorflow")
DOJO_GPU_DEVICE = env.int("DOJO_GPU_DEVICE", default=-1)
DOJO_GPU_SLOTS = env.int("DOJO_GPU_SLOTS", default=1)
# Each GPU slot's memory share under MPS (0: the card's 80 GiB / slots).
DOJO_GPU_MEMORY_MB = env.int("DOJO_GPU_MEMORY_MB", default=0)
# A warm spare sandbox per worker slot (Keras imported, limits applied) takes
# the slot's next training job of the same assignment; see jobs/spares.py.
DOJO_SPARES = env.bool("DOJO_SPARES", default=True)
DOJO_SPARE_MAX_AGE_SECONDS = env.int("DOJO_SPARE_MAX_AGE_SECONDS", default=900)
DOJO_EVAL_WALL_SECONDS = env.int("DOJO_EVAL_WALL_SECONDS", default=300)
# Batch regrades: each model's own budget once the grader has started.
DOJO_EVAL_MODEL_SECONDS = env.float("DOJO_EVAL_MODEL_SECONDS", default=120.0)
DOJO_EVAL_MEMORY_MB = env.int("DOJO_EVAL_MEMORY_MB", default=4096)
# Memory the batch grader's reused models may hold (at most a quarter of the
# above); a model larger than that is graded alone.
DOJO_EVAL_MODEL_CACHE_MB = env.int("DOJO_EVAL_MODEL_CACHE_MB", default=1024)
# Keep at most this many training / hidden test images of each class (0: all).
DOJO_DATASET_TRAIN_PER_CLASS = env.int("DOJO_DATASET_TRAIN_PER_CLASS", default=0)
DOJO_DATASET_TEST_PER_CLASS = env.int("DOJO_DATASET_TEST_PER_CLASS", default=0)
# "Try your model": requests a participant may send a minute, how long the page
# waits for an answer, and how long an unused predictor sandbox stays warm.
DOJO_PREDICT_PER_MINUTE = env.int("DOJO_PREDICT_PER_MINUTE", default=30)
DOJO_PREDICT_TIMEOUT_SECONDS = env.float("DOJO_PREDICT_TIMEOUT_SECONDS", default=20.0)
# What one participant may keep on disk: stored models and drafts.
DOJO_PARTICIPANT_DISK_MB = env.int("DOJO_PARTICIPANT_DISK_MB", default=2048)
# Submissions one participant may have waiting to train (fair share).
DOJO_QUEUED_PER_PARTICIPANT = env.int("DOJO_QUEUED_PER_PARTICIPANT", default=5)
# Images waiting for the predictor (per answer window): per participant, in all.
DOJO_PREDICT_WAITING_PER_USER = env.int("DOJO_PREDICT_WAITING_PER_USER", default=3)
DOJO_PREDICT_WAITING_TOTAL = env.int("DOJO_PREDICT_WAITING_TOTAL", default=60)
DOJO_PREDICT_IDLE_SECONDS = env.float("DOJO_PREDICT_IDLE_SECONDS", default=1800.0)
# The predictor sandbox's memory, and what one prediction may use of it (at most
# half): a model past that is refused, not allowed to get the predictor killed
# and every other participant sent to a cold start. Checked at start.
DOJO_PREDICT_MEMORY_MB = env.int("DOJO_PREDICT_MEMORY_MB", default=3072)
DOJO_PREDICT_REQUEST_MEMORY_MB = env.int("DOJO_PREDICT_REQUEST_MEMORY_MB", default=1024)
# How long the predictor may take to load one model: past it the model is
# refused (and remembered), not allowed to hold the room's predictor until it is
# killed. At most half of DOJO_PREDICT_TIMEOUT_SECONDS; checked at start.
DOJO_PREDICT_LOAD_SECONDS = env.float("DOJO_PREDICT_LOAD_SECONDS", default=8.0)
DOJO_LOG_FLUSH_SECONDS = env.float("DOJO_LOG_FLUSH_SECONDS", default=1.0)
# A running job whose heartbeat is older than this is taken for dead.
DOJO_HEARTBEAT_GRACE_SECONDS = env.int("DOJO_HEARTBEAT_GRACE_SECONDS", default=60)
# How often the sweeper retries failed cleanups and removes orphaned work dirs.
DOJO_SWEEP_EVERY_SECONDS = env.int("DOJO_SWEEP_EVERY_SECONDS", default=600)
# Received/queued rows older than this are sent to the broker again.
DOJO_REQUEUE_AFTER_SECONDS = env.int("DOJO_REQUEUE_AFTER_SECONDS", default=60)
DOJO_MAX_ATTEMPTS = env.int("DOJO_MAX_ATTEMPTS", default=2)
DOJO_RECONCILE_EVERY_SECONDS = env.float("DOJO_RECONCILE_EVERY_SECONDS", default=30.0)

# Runner hosts that join over the network (docs/runners.md). Queues whose
# training only runners do (train-cpu, train-gpu, check): the site sends their
# jobs to no broker queue, a runner takes them from the row (a check's model
# still goes to the site's check workers). Empty: site workers and runners
# both take them.
DOJO_RUNNER_QUEUES = env.list("DOJO_RUNNER_QUEUES", default=[])
# How long a runner's request for work is held open when none waits (a long
# poll holds one web worker thread: run gunicorn with threads when runners join).
DOJO_RUNNER_POLL_SECONDS = env.float("DOJO_RUNNER_POLL_SECONDS", default=10.0)
# Requests for work one web process holds open at once: past them a request is
# answered at once and told when to ask again, so however many runner slots
# idle, they hold at most this many threads of each process (gunicorn.conf.py
# gives each 8), never the ones the room's pages need.
DOJO_RUNNER_LONG_POLLS = env.int("DOJO_RUNNER_LONG_POLLS", default=2)
# How long a file URL handed to a runner stays valid; an upload's URL is made
# when the upload starts, so a long training never meets an expired one.
DOJO_RUNNER_URL_SECONDS = env.int("DOJO_RUNNER_URL_SECONDS", default=300)
# How long a runner's file transfer may make no progress before the site ends
# it (under gunicorn: an upload that sends no byte is answered 408 with nothing
# kept, a download whose reader takes no byte is cut off; either way its thread
# is freed and the runner tries again). Longer than any pause of a working link.
# Its name until stop 34, DOJO_RUNNER_UPLOAD_STALL_SECONDS, is still read.
DOJO_RUNNER_STALL_SECONDS = env.float(
    "DOJO_RUNNER_STALL_SECONDS",
    default=env.float("DOJO_RUNNER_UPLOAD_STALL_SECONDS", default=30.0),
)
# How long a join token shown on the hosts page may be exchanged.
DOJO_RUNNER_JOIN_SECONDS = env.int("DOJO_RUNNER_JOIN_SECONDS", default=3600)
# Where a runner's uploads wait, verified, until its result is applied.
DOJO_RUNNER_UPLOAD_ROOT = Path(
    env("DOJO_RUNNER_UPLOAD_ROOT", default=str(VAR_DIR / "runner-uploads"))
)
# Where the files a runner moves live: "local" (the site's disk, behind signed
# Django views: no other process) or "s3" (an S3-compatible object store through
# django-storages, with presigned URLs; docs/runners.md, "Object store").
DOJO_OBJECT_STORE = env("DOJO_OBJECT_STORE", default="local")
# The store as the site reaches it, and as runners reach it (presigned URLs
# name this address; empty: the same), its bucket and the site's keys.
DOJO_S3_ENDPOINT_URL = env("DOJO_S3_ENDPOINT_URL", default="")
DOJO_S3_PUBLIC_URL = env("DOJO_S3_PUBLIC_URL", default="")
DOJO_S3_BUCKET = env("DOJO_S3_BUCKET", default="")
DOJO_S3_ACCESS_KEY_ID = env("DOJO_S3_ACCESS_KEY_ID", default="")
DOJO_S3_SECRET_ACCESS_KEY = env("DOJO_S3_SECRET_ACCESS_KEY", default="")
DOJO_S3_REGION = env("DOJO_S3_REGION", default="us-east-1")

# Check runs from the editor: a short training on a slice of the training split
# (images per class), an indicative accuracy on a sample of the public split,
# their own limits, and a rate per participant and minute.
DOJO_CHECK_TRAIN_PER_CLASS = env.int("DOJO_CHECK_TRAIN_PER_CLASS", default=300)
DOJO_CHECK_PUBLIC_PER_CLASS = env.int("DOJO_CHECK_PUBLIC_PER_CLASS", default=50)
DOJO_CHECK_WALL_SECONDS = env.int("DOJO_CHECK_WALL_SECONDS", default=120)
DOJO_CHECK_EVAL_SECONDS = env.int("DOJO_CHECK_EVAL_SECONDS", default=120)
DOJO_CHECK_PER_MINUTE = env.int("DOJO_CHECK_PER_MINUTE", default=6)
# Each check worker slot keeps a warm sandbox for the assignment it checked last.
DOJO_CHECK_SPARES = env.bool("DOJO_CHECK_SPARES", default=True)

# How many reverse proxies in front of the site append to X-Forwarded-For; the
# login throttle and the API's rate limits trust exactly that many entries, and
# production trusts X-Forwarded-Proto only when there is at least one.
DOJO_TRUSTED_PROXIES = env.int("DOJO_TRUSTED_PROXIES", default=0)

# Who may create an account: anyone ("open"), only with a workshop's join code
# ("code"), or nobody ("closed": the instructor or operator makes accounts).
DOJO_SIGNUP = env("DOJO_SIGNUP", default="code")
if DOJO_SIGNUP not in ("open", "code", "closed"):
    raise ImproperlyConfigured(
        f"DOJO_SIGNUP is {DOJO_SIGNUP!r}; set it to open, code or closed."
    )
# dojo_setup's demo logins have published passwords: only where this is on.
DOJO_DEMO_USERS = env.bool("DOJO_DEMO_USERS", default=False)
# An API token stops working this many days after it was made.
DOJO_API_TOKEN_DAYS = env.int("DOJO_API_TOKEN_DAYS", default=30)

# Celery: Redis when REDIS_URL is set, else an embedded broker on SQLite.
REDIS_URL = env("REDIS_URL", default="")
CELERY_BROKER_URL = env(
    "CELERY_BROKER_URL",
    default=REDIS_URL or f"sqla+sqlite:///{VAR_DIR / 'broker.sqlite3'}",
)
CELERY_TASK_ALWAYS_EAGER = False
# On Redis: longer than the longest job, so a running job is not handed to another
# worker; a dead worker's job comes back through the reconciler instead. (The
# SQLAlchemy transport passes these options to create_engine, so none there.)
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {"visibility_timeout": 4 * 3600}
    if CELERY_BROKER_URL.startswith(("redis://", "rediss://"))
    else {}
)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_RATES": {
        "submissions": "30/hour",
        # Failed logins (accounts/throttles.py): per address and username,
        # refused outright past it; per address, and per username whatever the
        # address, refused past them only where that address already failed.
        "login_pair": env("DOJO_LOGIN_PAIR_RATE", default="10/hour"),
        "login": env("DOJO_LOGIN_ADDRESS_RATE", default="30/hour"),
        "login_user": env("DOJO_LOGIN_USER_RATE", default="20/hour"),
        # Accounts created per client address (a room behind one NAT shares it).
        "signup": env("DOJO_SIGNUP_RATE", default="60/hour"),
    },
    # The client's address is the one these proxies report (X-Forwarded-For,
    # counted from the end); 0: REMOTE_ADDR, whatever a client writes.
    "NUM_PROXIES": DOJO_TRUSTED_PROXIES,
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Dojo API",
    "DESCRIPTION": "Submit training code, follow its status and read grades.",
    "VERSION": "1",
}

CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
        if REDIS_URL
        else {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "dojo_cache",
        }
    )
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
}
