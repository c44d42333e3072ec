from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"

    def ready(self) -> None:
        from dashboard.validation import validation_release_refusal
        from workshops.services import release_guard_register

        release_guard_register(validation_release_refusal)
