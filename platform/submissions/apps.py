from django.apps import AppConfig


class SubmissionsConfig(AppConfig):
    name = "submissions"

    def ready(self) -> None:
        from django.core.exceptions import ImproperlyConfigured

        from submissions import signals  # noqa: F401 - connects the receivers
        from submissions.services.placement import (
            predictor_load_from_settings,
            predictor_memory_from_settings,
            sandbox_config_from_settings,
        )
        from workers.sandbox import SandboxUnavailable

        # The sandbox's one configuration, built once per process at start.
        try:
            sandbox_config_from_settings()
        except SandboxUnavailable as exc:
            raise ImproperlyConfigured(str(exc)) from None
        try:
            predictor_memory_from_settings()
        except ValueError as exc:
            raise ImproperlyConfigured(f"DOJO_PREDICT_*MEMORY_MB: {exc}") from None
        try:
            predictor_load_from_settings()
        except ValueError as exc:
            raise ImproperlyConfigured(f"DOJO_PREDICT_LOAD_SECONDS: {exc}") from None
