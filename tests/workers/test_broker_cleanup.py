"""The embedded broker's consumed messages are cleaned; pending ones are kept."""

import sqlite3

from workers.broker import embedded_broker_cleanup


def test_consumed_messages_are_deleted_and_pending_ones_kept(tmp_path):
    from kombu import Connection

    url = f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}"
    with Connection(url) as conn:
        queue = conn.SimpleQueue("site")
        for i in range(3):
            queue.put({"n": i})
        queue.get(timeout=5).ack()
        queue.close()
    assert embedded_broker_cleanup(url) == 1
    with sqlite3.connect(tmp_path / "broker.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM kombu_message").fetchone() == (2,)


def test_other_brokers_are_left_alone():
    assert embedded_broker_cleanup("redis://127.0.0.1:6379/0") == 0
