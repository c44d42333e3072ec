from django.apps import AppConfig


class ChecksConfig(AppConfig):
    name = "checks"
    verbose_name = "Check runs"

    def ready(self) -> None:
        from checks.execution import CHECK, check_result_apply
        from checks.reconcile import CHECK_JOBS
        from jobs.apply import job_applier_register
        from jobs.reconcile import job_kind_register

        # A check run is a kind of job: its result applier, its row's repairs.
        job_applier_register(kind=CHECK, applier=check_result_apply)
        job_kind_register(CHECK_JOBS)
