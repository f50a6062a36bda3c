"""Opt-in server-side prepared statements for the store's own statements (PostgreSQL, psycopg 3).

Django turns prepared statements off (``prepare_threshold=None``) so that transaction-pooling
proxies keep working, and binds parameters on the client, so every execution of the store's
statements is parsed and planned again. The admission statement is the expensive one to plan (in
pgbench: 0.26 ms simple, 0.09 ms prepared). With ``OP_STORE["PREPARED_STATEMENTS"]`` (or
``DjangoOperationStore(prepared=True)``) the store's statements run through a server-binding cursor
that prepares them on first use on each connection; every other query of the project is untouched.

Leave it off behind a proxy that pools connections per transaction and does not track prepared
statements (PgBouncer before 1.21, or without ``max_prepared_statements``): a statement prepared
on one server connection would be executed on another. If it is on there anyway, the first
"prepared statement ... already exists / does not exist" error outside a transaction is retried
unprepared, and that connection prepares nothing more (one warning per connection); inside a
transaction the statement has already failed it, so only later ones are spared. See
docs/deployment.md, "PgBouncer in transaction pooling".
"""

from __future__ import annotations

import functools
import logging
import sys
import weakref
from typing import Any, cast

from django.db.backends.base.base import BaseDatabaseWrapper

from op_store._compat import cursor_from

__all__ = ["can_prepare", "statement_cursor"]

logger = logging.getLogger("op_store")

#: Driver connections where a proxy lost or mixed up prepared statements: they prepare no more.
_unprepared: weakref.WeakSet[Any] = weakref.WeakSet()

#: The connection's threshold when the project left it at Django's ``None`` (which would also
#: refuse an explicit ``prepare=True``): high enough that nothing is prepared unless asked.
_ONLY_WHEN_ASKED = sys.maxsize


def can_prepare(vendor: str) -> bool:
    """Whether a backend can prepare the store's statements (PostgreSQL through psycopg 3)."""
    if vendor != "postgresql":
        return False
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    return bool(is_psycopg3)


def statement_cursor(conn: BaseDatabaseWrapper, prepared: bool) -> Any:
    """A cursor for one of the store's statements: Django's own, or one that prepares them.

    The preparing cursor is wrapped by Django like any other (``CursorWrapper``, or the debug
    wrapper when queries are logged), so ``execute_wrapper``, query logging and
    ``assertNumQueries`` see its statements.
    """
    if not prepared or not can_prepare(conn.vendor) or conn.connection in _unprepared:
        return conn.cursor()
    return _preparing_cursor(conn)


@functools.cache
def _cursor_class() -> Any:
    """The psycopg cursor class that prepares what it runs (psycopg is imported only when used)."""
    from psycopg import ClientCursor, Cursor, errors, pq

    class PreparingCursor(Cursor[Any]):
        """Prepares every statement it runs (psycopg keeps the names, per connection, in an LRU)."""

        def execute(self, query: Any, params: Any = None, *, prepare: bool | None = None, **kwargs: Any) -> Any:
            try:
                unprepared = self.connection in _unprepared
                want = False if unprepared else True if prepare is None else prepare
                try:
                    return super().execute(query, params, prepare=want, **kwargs)
                except (errors.DuplicatePreparedStatement, errors.InvalidSqlStatementName) as exc:
                    # A pooling proxy ran our statement on a server connection that is not the one
                    # it was prepared on (or where another client's has the same name).
                    _stop_preparing(self.connection, exc)
                    if self.connection.info.transaction_status != pq.TransactionStatus.IDLE:
                        raise  # the transaction is aborted: nothing to retry in
                    return super().execute(query, params, prepare=False, **kwargs)
            finally:
                # psycopg keeps no query text for a prepared run; Django's query log (DEBUG, tests'
                # CaptureQueriesContext) reads it from ``_query.query``: render it as Django would.
                self._query = cast(Any, _Rendered(lambda: ClientCursor(self.connection).mogrify(query, params)))

    return PreparingCursor


def _stop_preparing(raw: Any, exc: Exception) -> None:
    if raw in _unprepared:
        return
    _unprepared.add(raw)
    logger.warning(
        "op_store: a prepared statement failed (%s): a proxy in front of PostgreSQL (PgBouncer in "
        "transaction pooling?) does not keep prepared statements per client; this connection runs "
        "op_store's statements unprepared from now on. Turn OP_STORE['PREPARED_STATEMENTS'] off "
        "there, or let the proxy track them (PgBouncer >= 1.21: max_prepared_statements).",
        exc,
    )


class _Rendered:
    """A stand-in for psycopg's query object, rendering the statement only if someone reads it."""

    __slots__ = ("_render",)

    def __init__(self, render: Any) -> None:
        self._render = render

    @property
    def query(self) -> bytes:
        return str(self._render()).encode()


@functools.cache
def _timestamptz_loader_key() -> tuple[int, Any]:
    from psycopg.postgres import types
    from psycopg.pq import Format

    return types["timestamptz"].oid, Format.TEXT


def _preparing_cursor(conn: BaseDatabaseWrapper) -> Any:
    """What ``conn.cursor()`` gives, with the preparing cursor class instead of Django's."""

    def create(raw: Any) -> Any:
        if raw.prepare_threshold is None:
            raw.prepare_threshold = _ONLY_WHEN_ASKED
        cursor = _cursor_class()(raw)
        # As Django's create_cursor: the connection's timezone for timestamptz values.
        if getattr(raw.adapters.get_loader(*_timestamptz_loader_key()), "timezone", None) != conn.timezone:
            from django.db.backends.postgresql.psycopg_any import register_tzloader

            register_tzloader(conn.timezone, cursor)
        return cursor

    return cursor_from(conn, create)
