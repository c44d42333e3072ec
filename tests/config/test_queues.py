"""Each queue gets only the jobs sent to it, on the configured broker."""

import uuid

from config.celery_app import QUEUES, app


def test_a_message_sent_to_one_queue_lands_only_there():
    """A train-gpu job must not be copied into the CPU or evaluate queues."""
    marker = uuid.uuid4().hex
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        for name in QUEUES:
            app.amqp.queues[name](channel).declare()
            channel.queue_purge(name)
        app.send_task(
            "workers.tasks.train", args=[0, marker], queue="train-gpu", connection=conn
        )
        counts = {}
        for name in QUEUES:
            queue = app.amqp.queues[name](channel)
            counts[name] = queue.queue_declare().message_count
            channel.queue_purge(name)
    assert counts == {name: int(name == "train-gpu") for name in QUEUES}
