"""An evaluation's budgets agree: a chunk's end before its task's soft time
limit, a single evaluation's warm evaluator is sized for one model and holds
its CPU quota (DOJO_SANDBOX_CPUS)."""

import math
import os
from pathlib import Path

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

from config.celery_app import app
from jobs import spares
from jobs.placement import (
    CHUNK_MARGIN_SECONDS,
    chunk_max_models,
    chunk_wall_seconds,
    evaluation_sandbox,
)
from jobs.queues import TASK_SOFT_TIME_LIMIT_SECONDS
from jobs.spare_policy import SpareKind, slot_spare, spares_discard
from submissions.services.regrade import chunk_size
from tests.workers.sandbox.sandbox_helpers import job_cpu_quotas
from workers.evaluation import grader_limits
from workers.evaluation_each import round_wall_seconds


@pytest.mark.parametrize("model_seconds", [120.0, 6.0, 3000.0])
def test_a_chunk_ends_before_its_tasks_soft_time_limit(settings, model_seconds):
    """However a batch is cut, a chunk's wall budget (and the CPU limit, a
    multiple of it) fits under the regrade task's soft time limit."""
    settings.DOJO_EVAL_MODEL_SECONDS = model_seconds
    assert app.conf.task_soft_time_limit == TASK_SOFT_TIME_LIMIT_SECONDS
    largest = max(chunk_size(total) for total in (1, 50, 1_000, 100_000))
    assert largest <= chunk_max_models()
    wall = round_wall_seconds(
        startup_seconds=settings.DOJO_EVAL_WALL_SECONDS,
        seconds_per_model=model_seconds,
        models=largest,
    )
    assert wall == chunk_wall_seconds(models=largest)
    if model_seconds <= 120:
        assert wall + CHUNK_MARGIN_SECONDS <= TASK_SOFT_TIME_LIMIT_SECONDS
        limits = grader_limits(wall, 1)
        assert limits.cpu_seconds <= 4 * (TASK_SOFT_TIME_LIMIT_SECONDS - 300)
    else:
        # A model's own budget past the task's limit: one model a chunk.
        assert largest == 1


def test_a_single_evaluations_warm_evaluator_is_sized_for_one_model(
    settings, empty_queues
):
    """The spare a single evaluation leaves has that evaluation's CPU limit,
    not a 100-model chunk's (49,204 s), and while it waits its cgroup holds
    the CPU quota of DOJO_SANDBOX_CPUS (read from the host)."""
    settings.DOJO_SPARES = True
    settings.DOJO_SANDBOX_CPUS = 0.5
    grader = evaluation_sandbox()
    hidden = Path(settings.DOJO_DATA_ROOT) / "budget-test-hidden"
    hidden.mkdir(parents=True, exist_ok=True)
    spares_discard()
    try:
        spares.evaluation_spare_refill(
            key="budget-test", folders=[str(hidden)], grader=grader
        )
        waiting = slot_spare(kind=SpareKind.EVALUATE)
        assert waiting is not None
        single = grader_limits(
            settings.DOJO_EVAL_WALL_SECONDS, grader["memory_bytes"], grader["cpus"]
        )
        assert waiting.limits.cpu_seconds == single.cpu_seconds
        assert waiting.limits.cpus == 0.5
        assert job_cpu_quotas() == ["50000 100000"]
    finally:
        spares_discard()


def test_the_cpu_quota_defaults_to_all_cores_but_one_and_a_bad_one_stops_the_start(
    settings,
):
    """By default a job may use every core but one (at least one); a negative,
    NaN or non-number DOJO_SANDBOX_CPUS is refused at start, naming it."""
    if "DOJO_SANDBOX_CPUS" not in os.environ:
        assert settings.DOJO_SANDBOX_CPUS == max(1.0, (os.cpu_count() or 1) - 1)
    for bad in (-1.0, math.nan, math.inf, "two"):
        settings.DOJO_SANDBOX_CPUS = bad
        with pytest.raises(ImproperlyConfigured, match="DOJO_SANDBOX_CPUS"):
            apps.get_app_config("submissions").ready()
    settings.DOJO_SANDBOX_CPUS = 0
    apps.get_app_config("submissions").ready()
    assert evaluation_sandbox()["cpus"] == 0
