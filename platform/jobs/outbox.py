"""The one way out to the broker: send a task by name, now or after commit.

Services never import `tasks.py` (which imports them); they name the task with
`JobTask` and the outbox sends it with `send_task`, as beat does. Tests that
need to see what left swap `transport` for a recorder (one fake, in
`tests/conftest.py`).
"""

import logging
from collections.abc import Callable, Sequence
from typing import Any

from celery import current_app
from django.db import transaction

from jobs.queues import JobQueue, JobTask

logger = logging.getLogger(__name__)

__all__ = ["JobQueue", "JobTask", "outbox_send", "outbox_send_on_commit"]


def broker_send(task: str, args: list[Any], queue: str, **options: Any) -> None:
    """Hand one message to the Celery broker.

    Through Celery's current app, which `config.celery_app` makes when Django's
    settings load: the job floor never imports the project's config.
    """
    current_app.send_task(task, args=args, queue=queue, **options)


# Replaced by the tests' recorder; everything that leaves goes through here.
transport: Callable[..., None] = broker_send


def outbox_send(
    *, task: JobTask, args: Sequence[Any], queue: str, **options: Any
) -> None:
    """Send a task now (raises if the broker refuses)."""
    transport(str(task), list(args), str(queue), **options)


def outbox_send_on_commit(
    *, task: JobTask, args: Sequence[Any], queue: str, **options: Any
) -> None:
    """Send a task once the current transaction commits; a refusal is logged.

    The row that asked for the send says the job is due, so the reconciler
    sends it again when the broker was away.
    """

    def send() -> None:
        try:
            outbox_send(task=task, args=args, queue=queue, **options)
        except Exception:
            logger.exception("Could not send %s %s to the queue", task, list(args))

    transaction.on_commit(send)
