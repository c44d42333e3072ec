from django.apps import AppConfig


class RunnersConfig(AppConfig):
    name = "runners"
    verbose_name = "Runner hosts"

    def ready(self) -> None:
        from checks import extensions as check_extensions
        from runners.config import object_store_settings_check, runner_settings_check
        from runners.settle import runner_check_model_settle, runner_model_settle
        from runners.sweep import runner_uploads_sweep
        from submissions import extensions

        runner_settings_check()
        object_store_settings_check()
        extensions.model_settler_register(runner_model_settle)
        check_extensions.model_settler_register(runner_check_model_settle)
        extensions.sweeper_register(runner_uploads_sweep)
