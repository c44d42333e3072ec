"""Rate limits that read their rates when a request comes, not at import."""

from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle


class SettingsScopedRateThrottle(ScopedRateThrottle):
    """A scoped throttle whose rate follows ``REST_FRAMEWORK`` as it is now.

    DRF's own throttles copy the rates once, when the module is imported, so a
    changed setting (an operator's override, a test's) would go unnoticed.
    """

    def get_rate(self) -> str | None:
        """Return the rate configured for this view's scope."""
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
