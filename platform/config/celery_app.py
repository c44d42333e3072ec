"""The Celery app: queues, routing, limits and the periodic reconciler."""

import logging
import os
import sys
import threading
import time

from celery import Celery
from celery.signals import (
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)
from kombu import Exchange, Queue
from kombu.transport import sqlalchemy as kombu_sqlalchemy

from jobs.queues import (
    QUEUES,
    TASK_SOFT_TIME_LIMIT_SECONDS,
    TASK_TIME_LIMIT_SECONDS,
    JobQueue,
    JobTask,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

# The embedded broker polls its table; the default 1 s adds about half a second to
# every pickup. This must be a class attribute: transport options go to
# SQLAlchemy's create_engine and crash the worker there.
kombu_sqlalchemy.Transport.polling_interval = 0.1

__all__ = ["QUEUES", "app", "make_queues"]

logger = logging.getLogger("dojo.worker")


def make_queues(names: tuple[str, ...]) -> list[Queue]:
    """Give each queue its own exchange and routing key.

    With a shared default key, a message would be copied into every queue bound
    to it, and a CPU worker would take GPU jobs.
    """
    return [Queue(name, Exchange(name), routing_key=name) for name in names]


app = Celery("dojo")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_acks_late=True,
    task_reject_on_worker_lost=False,
    worker_prefetch_multiplier=1,
    worker_max_tasks_per_child=200,
    task_default_queue=JobQueue.SITE.value,
    task_queues=make_queues(QUEUES),
    task_routes={
        JobTask.RECONCILE.value: {"queue": JobQueue.SITE.value},
        JobTask.PREDICT.value: {"queue": JobQueue.PREDICT.value},
        JobTask.SWEEP_WORK_DIRS.value: {"queue": JobQueue.SITE.value},
        JobTask.CHECK_RUN.value: {"queue": JobQueue.CHECK.value},
    },
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    task_soft_time_limit=TASK_SOFT_TIME_LIMIT_SECONDS,
    task_time_limit=TASK_TIME_LIMIT_SECONDS,
)
# Finds submissions/tasks.py (and any other app's tasks.py) once Django is set up.
app.autodiscover_tasks()


@app.on_after_finalize.connect
def _schedule_reconciler(sender: Celery, **kwargs: object) -> None:
    from django.conf import settings

    # Routed to `site`: a beat entry on an unread queue would wait forever.
    sender.add_periodic_task(
        settings.DOJO_RECONCILE_EVERY_SECONDS,
        sender.signature(JobTask.RECONCILE.value, queue=JobQueue.SITE.value),
        name="reconcile jobs",
    )
    # Retries failed cleanups and removes orphaned work dirs and artifacts.
    sender.add_periodic_task(
        settings.DOJO_SWEEP_EVERY_SECONDS,
        sender.signature(JobTask.SWEEP_WORK_DIRS.value, queue=JobQueue.SITE.value),
        name="sweep work dirs and artifacts",
    )
    if settings.CELERY_BROKER_URL.startswith("sqla+"):
        sender.add_periodic_task(
            3600.0,
            sender.signature(JobTask.BROKER_CLEANUP.value, queue=JobQueue.SITE.value),
            name="clean the embedded broker",
        )


@worker_init.connect
def _refuse_to_start_without_a_sandbox(sender: object = None, **kwargs: object) -> None:
    """Stop the worker at start when its sandbox cannot run, saying how to fix it.

    A GPU worker (DOJO_GPU_DEVICE >= 0) also proves that it can cap job memory with
    a cgroup and that its Keras backend sees the GPU from inside its own sandbox.
    """
    from django.conf import settings

    from jobs.placement import sandbox_config_from_settings
    from workers.sandbox import SandboxUnavailable, check_backend, host_prepare

    gpu = settings.DOJO_GPU_DEVICE >= 0
    try:
        sandbox_config_from_settings()
        check_backend(settings.DOJO_SANDBOX_BACKEND)
        plan = host_prepare(
            backend=settings.DOJO_SANDBOX_BACKEND,
            gpu_device=settings.DOJO_GPU_DEVICE,
            slots=settings.DOJO_GPU_SLOTS
            if gpu
            else getattr(sender, "concurrency", 1) or 1,
            keras_backend=settings.DOJO_KERAS_BACKEND,
            uid_base=settings.DOJO_SANDBOX_UID,
            gpu_memory_mb=settings.DOJO_GPU_MEMORY_MB or None,
        )
    except SandboxUnavailable as exc:
        # Celery logs and swallows exceptions from signal handlers; SystemExit
        # is the one way to stop the worker here.
        raise SystemExit(f"This Dojo worker cannot start: {exc}") from None
    for notice in plan.notices:
        logger.warning("Sandbox: %s", notice)
    logger.warning("Sandbox limits on this worker: %s", plan.describe())
    from jobs.spares import spares_describe

    slots = settings.DOJO_GPU_SLOTS if gpu else getattr(sender, "concurrency", 1)
    logger.warning("%s", spares_describe(slots=slots or 1))


@worker_init.connect
def _spares_watch_this_workers_queues(sender: object = None, **kwargs: object) -> None:
    """Tell the spare policy which queues this worker serves (see spare_policy).

    Set in the parent before its pool processes fork, so each slot inherits it.
    """
    from jobs.spare_policy import spare_policy_serve

    queues = getattr(getattr(sender, "app", app).amqp.queues, "consume_from", {})
    spare_policy_serve(queues=list(queues or {}))


@task_prerun.connect
def _slot_busy(**kwargs: object) -> None:
    from jobs.spare_policy import spare_slot_busy

    spare_slot_busy(busy=True)


@task_postrun.connect
def _slot_idle(**kwargs: object) -> None:
    from jobs.spare_policy import spare_slot_busy

    spare_slot_busy(busy=False)


@worker_ready.connect
def _warm_the_predictor(sender: object = None, **kwargs: object) -> None:
    """Start the predictor sandbox of a solo worker on the predict queue now.

    The first "try your model" then pays only for loading its model, not for
    TensorFlow's import. Prefork children would each start their own: skipped.
    """
    pool = getattr(sender, "pool", None)
    queues = getattr(getattr(sender, "app", app).amqp.queues, "consume_from", {})
    if JobQueue.PREDICT.value in (queues or {}) and "solo" in type(pool).__module__:
        from submissions.prediction_worker import predictor_warm_up

        predictor_warm_up()


def _sweep_forever(every_seconds: float) -> None:
    from django.conf import settings

    from workers.sandbox import sweep_orphans

    while True:
        try:
            sweep_orphans(settings.DOJO_WORK_ROOT)
        except Exception:
            logger.exception("Sweeping this worker's work dirs failed; retrying later")
        time.sleep(every_seconds)


@worker_ready.connect
def _sweep_this_namespace(sender: object = None, **kwargs: object) -> None:
    """Sweep the work dirs this worker's pid namespace owns, now and periodically.

    Pids mean nothing across containers, so no other worker can tell whether
    this one's folders are still in use. A thread: a deep tree must not hold up
    the worker's consumer.
    """
    from django.conf import settings

    threading.Thread(
        target=_sweep_forever,
        args=(settings.DOJO_SWEEP_EVERY_SECONDS,),
        name="dojo-sweeper",
        daemon=True,
    ).start()


@worker_process_shutdown.connect
@worker_shutdown.connect
def _release_warm_sandboxes(**kwargs: object) -> None:
    """Stop this process's warm predictor and spares as the worker stops.

    Each holds a sized tmpfs work dir that only its own release detaches: a
    stopped worker left them mounted until a later worker's sweep (a killed
    one still does; the sweep is the floor). Prefork children get
    worker_process_shutdown, a solo worker (the predictor's) worker_shutdown.
    A process that never imported the module holding them has none: nothing is
    imported here, as the stop must end within bin/dojo-run's grace.
    """
    releases = [
        getattr(sys.modules.get(module), name, None)
        for module, name in (
            ("jobs.spare_policy", "spares_discard"),
            ("submissions.prediction_worker", "predictor_close"),
        )
    ]
    for release in filter(None, releases):
        try:
            release()
        except Exception:  # the next worker's sweep removes what is left
            logger.exception("Could not release a warm sandbox at shutdown")


@worker_shutdown.connect
def _stop_mps(**kwargs: object) -> None:
    from workers.sandbox import current_host_plan

    plan = current_host_plan()
    if plan is not None:
        plan.close()
