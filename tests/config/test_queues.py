"""Each queue gets only the jobs sent to it, on the configured broker."""

import uuid

from celery import Celery

from config.celery_app import QUEUES, app, make_queues


def test_the_app_uses_one_exchange_and_key_per_queue():
    for name in QUEUES:
        queue = app.amqp.queues[name]
        assert (queue.exchange.name, queue.routing_key) == (name, name)


def test_a_message_sent_to_one_queue_lands_only_there():
    """A GPU job must not be copied into the CPU or evaluate queues.

    Probe queues named apart from the real ones, so a running worker cannot
    take the message while it is counted.
    """
    probe = f"probe-{uuid.uuid4().hex[:8]}"
    names = tuple(f"{probe}-{name}" for name in QUEUES)
    sender = Celery("probe", broker=app.conf.broker_url)
    sender.conf.update(
        task_queues=make_queues(names),
        broker_transport_options=app.conf.broker_transport_options,
    )
    with sender.connection_for_write() as conn:
        channel = conn.default_channel
        queues = [q(channel) for q in make_queues(names)]
        for queue in queues:
            queue.declare()
        sender.send_task(
            "submissions.tasks.train",
            args=[0, "probe"],
            queue=f"{probe}-train-gpu",
            connection=conn,
        )
        counts = {q.name: q.queue_declare().message_count for q in queues}
        for queue in queues:
            queue.purge()
            queue.delete()
    assert counts == {name: int(name.endswith("-train-gpu")) for name in names}
