"""Django internals op_store relies on, each behind one small function.

Each function says which private API it uses and which Django versions it was checked against, so
an upgrade of Django has one file to review.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import QuerySet
from django.utils.asyncio import async_unsafe

# --- database connections, cursors and querysets


def raw_delete(queryset: QuerySet[Any], using: str) -> int:
    """Delete the rows of ``queryset`` with one DELETE: no collection of objects, no signals.

    The fast path of ``QuerySet.delete()`` (``QuerySet._raw_delete``, private; checked against
    Django 5.0-5.2). op_store's maintenance deletes by primary key in batches and sends its own
    signals; ``delete()`` would wrap each batch in a transaction, or fetch every row first when a
    project connects a ``pre_delete``/``post_delete`` receiver to ``Operation``.
    """
    return int(queryset._raw_delete(using))


@async_unsafe
def cursor_from(conn: BaseDatabaseWrapper, create: Callable[[Any], Any]) -> Any:
    """What ``conn.cursor()`` returns, with the driver cursor made by ``create(raw_connection)``.

    Mirrors ``BaseDatabaseWrapper.cursor()``/``_cursor()``/``_prepare_cursor()`` (checked against
    Django 5.0-5.2): health check, connect, thread check, then Django's own wrapper (the debug one
    when queries are logged), so query logging, ``execute_wrapper`` and ``assertNumQueries`` see
    the statements.
    """
    conn.close_if_health_check_failed()
    conn.ensure_connection()
    with conn.wrap_database_errors:
        cursor = create(conn.connection)
    conn.validate_thread_sharing()
    return conn.make_debug_cursor(cursor) if conn.queries_logged else conn.make_cursor(cursor)
