"""The runner settings, checked once at start: a wrong one names itself."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from runners.models import RUNNER_QUEUES

OBJECT_STORES = ("local", "s3")
# A web process has 16 threads (gunicorn.conf.py): a few may wait for work.
LONG_POLLS_TOP = 6
# What DOJO_OBJECT_STORE=s3 cannot work without.
S3_REQUIRED = (
    "DOJO_S3_ENDPOINT_URL",
    "DOJO_S3_BUCKET",
    "DOJO_S3_ACCESS_KEY_ID",
    "DOJO_S3_SECRET_ACCESS_KEY",
)


def runner_settings_check() -> None:
    """Refuse runner settings out of range, naming the setting and what it takes."""
    for queue in settings.DOJO_RUNNER_QUEUES:
        if queue not in RUNNER_QUEUES:
            raise ImproperlyConfigured(
                f"DOJO_RUNNER_QUEUES holds {queue!r}; a runner may serve only "
                f"{', '.join(RUNNER_QUEUES)}."
            )
    bounds = {
        "DOJO_RUNNER_POLL_SECONDS": (0, 60),
        "DOJO_RUNNER_URL_SECONDS": (30, 24 * 3600),
        "DOJO_RUNNER_JOIN_SECONDS": (60, 7 * 24 * 3600),
        "DOJO_RUNNER_STALL_SECONDS": (1, 600),
    }
    for name, (low, high) in bounds.items():
        value = getattr(settings, name)
        if not low <= value <= high:
            raise ImproperlyConfigured(
                f"{name} is {value}; it must be between {low} and {high} seconds."
            )
    polls = settings.DOJO_RUNNER_LONG_POLLS
    if not 0 <= polls <= LONG_POLLS_TOP:
        raise ImproperlyConfigured(
            f"DOJO_RUNNER_LONG_POLLS is {polls}; it must be between 0 and "
            f"{LONG_POLLS_TOP} requests held open per web process."
        )


def object_store_settings_check() -> None:
    """Refuse an object store setting that is unknown or incomplete, by name."""
    store = settings.DOJO_OBJECT_STORE
    if store not in OBJECT_STORES:
        raise ImproperlyConfigured(
            f"DOJO_OBJECT_STORE is {store!r}; it takes {' or '.join(OBJECT_STORES)}."
        )
    if store != "s3":
        return
    missing = [name for name in S3_REQUIRED if not getattr(settings, name)]
    if missing:
        raise ImproperlyConfigured(
            f"DOJO_OBJECT_STORE=s3 needs {', '.join(missing)}: set "
            f"{'it' if len(missing) == 1 else 'them'} in the environment."
        )
    for name in ("DOJO_S3_ENDPOINT_URL", "DOJO_S3_PUBLIC_URL"):
        value = getattr(settings, name)
        if value and not value.startswith(("http://", "https://")):
            raise ImproperlyConfigured(
                f"{name} is {value!r}; it must be an http(s) URL."
            )
    try:
        import boto3  # noqa: F401
        import storages.backends.s3  # noqa: F401
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"DOJO_OBJECT_STORE=s3 needs django-storages and boto3 "
            f"(requirements.txt): {exc}."
        ) from None
