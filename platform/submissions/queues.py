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
