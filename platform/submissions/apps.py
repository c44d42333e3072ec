from django.apps import AppConfig


class SubmissionsConfig(AppConfig):
    name = "submissions"

    def ready(self) -> None:
        from django.core.exceptions import ImproperlyConfigured

        from jobs.apply import job_applier_register
        from jobs.placement import (
            predictor_load_from_settings,
            predictor_memory_from_settings,
            sandbox_config_from_settings,
            sandbox_cpus_from_settings,
        )
        from jobs.reconcile import job_kind_register
        from submissions import signals  # noqa: F401 - connects the receivers
        from submissions.models import Run
        from submissions.prediction_jobs import (
            PREDICT,
            PREDICTION_JOBS,
            prediction_answer_apply,
        )
        from submissions.services.jobs import run_outcome_apply
        from submissions.services.reconcile import SUBMISSION_JOBS
        from workers.sandbox import SandboxUnavailable

        # A submission's trainings and evaluations are kinds of job, and so is
        # a "try your model" prediction.
        for kind in Run.Kind:
            job_applier_register(kind=kind.value, applier=run_outcome_apply)
        job_kind_register(SUBMISSION_JOBS)
        job_applier_register(kind=PREDICT, applier=prediction_answer_apply)
        job_kind_register(PREDICTION_JOBS)

        # The sandbox's one configuration, built once per process at start.
        try:
            sandbox_config_from_settings()
        except SandboxUnavailable as exc:
            raise ImproperlyConfigured(str(exc)) from None
        try:
            sandbox_cpus_from_settings()
        except ValueError as exc:
            raise ImproperlyConfigured(f"DOJO_SANDBOX_CPUS {exc}") from None
        try:
            predictor_memory_from_settings()
        except ValueError as exc:
            raise ImproperlyConfigured(f"DOJO_PREDICT_*MEMORY_MB: {exc}") from None
        try:
            predictor_load_from_settings()
        except ValueError as exc:
            raise ImproperlyConfigured(f"DOJO_PREDICT_LOAD_SECONDS: {exc}") from None
