"""Database connection faults a long-running job meets, and how it survives them."""

from django.db import InterfaceError, OperationalError, connection

DB_GONE = (OperationalError, InterfaceError)
# Deadlock and serialization failure: the transaction may simply be run again.
RETRY_SQLSTATES = frozenset({"40P01", "40001"})


def db_reconnect_if_cut() -> None:
    """Replace a connection the database cut (a restart, pg_terminate_backend).

    Django reconnects only between requests; a job outlives many of those
    moments, so it checks before each write that matters.
    """
    if connection.in_atomic_block:
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DB_GONE:
        connection.close()


def db_retryable(exc: BaseException) -> bool:
    """Say whether the database aborted a transaction that may be run again."""
    return (
        isinstance(exc, OperationalError)
        and getattr(exc.__cause__, "sqlstate", None) in RETRY_SQLSTATES
        and not connection.in_atomic_block
    )
