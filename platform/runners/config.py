"""The runner settings, checked once at start: a wrong one names itself."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from runners.models import RUNNER_QUEUES


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
    }
    for name, (low, high) in bounds.items():
        value = getattr(settings, name)
        if not low <= value <= high:
            raise ImproperlyConfigured(
                f"{name} is {value}; it must be between {low} and {high} seconds."
            )
