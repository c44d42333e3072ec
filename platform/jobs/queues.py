"""Queue names, free of Django so the Celery app can read them at import."""

from enum import StrEnum


class JobQueue(StrEnum):
    """The broker queues; each has its own exchange and routing key."""

    TRAIN_CPU = "train-cpu"
    TRAIN_GPU = "train-gpu"
    EVALUATE = "evaluate"
    SITE = "site"
    # "Try your model": answered by a worker that keeps a warm predictor sandbox.
    PREDICT = "predict"
    # Check runs (short trainings from the editor): never behind full trainings.
    CHECK = "check"


QUEUES: tuple[str, ...] = tuple(queue.value for queue in JobQueue)

# Celery's time limits for a task that names none (a regrade chunk among them):
# what a chunk's sandboxes may take is derived from the soft one (placement).
TASK_SOFT_TIME_LIMIT_SECONDS = 3600
TASK_TIME_LIMIT_SECONDS = 3700


class JobTask(StrEnum):
    """The registered task names: senders use these, never the task objects.

    Each name says the module its task lives in. The submissions' tasks were
    once named `workers.tasks.*`: a message of an old name still queued after a
    deploy finds no task and is dropped, which loses nothing, because the
    reconciler resends by row (a received, queued or stale job is sent again
    under its new name) and a prediction's asker polls and asks again.
    """

    TRAIN = "submissions.tasks.train"
    EVALUATE = "submissions.tasks.evaluate"
    REGRADE_CHUNK = "submissions.tasks.regrade_chunk"
    RECONCILE = "jobs.tasks.reconcile"
    BROKER_CLEANUP = "submissions.tasks.broker_cleanup"
    PREDICT = "submissions.tasks.predict"
    SWEEP_WORK_DIRS = "submissions.tasks.sweep_work_dirs"
    CHECK_RUN = "checks.tasks.check_run"
