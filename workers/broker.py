"""Housekeeping for the embedded broker (kombu's SQLAlchemy transport on SQLite)."""

import sqlite3
from pathlib import Path

PREFIX = "sqla+sqlite:///"


def embedded_broker_cleanup(broker_url: str) -> int:
    """Delete consumed messages, which the transport keeps forever; return how many."""
    if not broker_url.startswith(PREFIX):
        return 0
    path = Path(broker_url.removeprefix(PREFIX))
    if not path.is_file():
        return 0
    with sqlite3.connect(path, timeout=30) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        if "kombu_message" not in tables:
            return 0
        return db.execute("DELETE FROM kombu_message WHERE visible = 0").rowcount
