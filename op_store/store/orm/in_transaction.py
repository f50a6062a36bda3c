"""Admission inside the caller's transaction: the store side of the one-commit mode.

In the default mode an admission commits on its own before the work runs (so a crash mid-work
leaves a record, and the stale policy decides what a retry means). In the one-commit mode
(``exactly_once(admission="in_transaction")``, see ``docs/architecture.md``) the admitted row is
inserted in the work's own transaction and commits with the seal, or vanishes with a rollback: one
commit per fresh request, and nothing to release after a crash. What keeps a concurrent duplicate
out while the first runs:

- PostgreSQL: a transaction-scoped advisory lock on the operation (``pg_try_advisory_xact_lock``,
  which PgBouncer's transaction pooling allows), taken without waiting in the statement that
  inserts; a duplicate that does not get it is told the operation is in flight. With
  ``ADMISSION_FUNCTION`` that statement is a call of ``op_store_admit`` with the lock's key, which
  also returns the row a failed insert met (no second SELECT).
- SQLite: the single writer lock. The INSERT is the transaction's first statement, so it waits for
  the lock for the connection's busy timeout (``OPTIONS["timeout"]``, 5 s by default); a duplicate
  that times out is told the operation is in flight, one that gets the lock after the first
  committed finds its sealed row.
- Other databases: the INSERT blocks on the uncommitted duplicate row until the first commits or
  rolls back (bounded by the database's own lock timeout).

:func:`peek` reads the row without a transaction first, so a replay costs one SELECT.
"""

from __future__ import annotations

import hashlib
import weakref
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, IntegrityError, OperationalError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from op_store.models import Operation

from ..base import Admission, AdmissionOutcome
from ..common import check_lease, check_operation_id, check_text, fingerprint_digest, new_token
from .dialects import INSERT_COLUMNS, Dialect, PostgresDialect, StoredRow, admitted_row, dialect_for

if TYPE_CHECKING:
    from datetime import timedelta

    from .store import DjangoOperationStore

_ADMITTED = Operation.State.ADMITTED.value
_IN_FLIGHT = Admission(AdmissionOutcome.IN_FLIGHT)


def lock_key(table: str, scope: str, operation_id: int) -> int:
    """The advisory lock of one operation: a signed 64-bit hash of its table, scope and id."""
    digest = hashlib.blake2b(f"{table}\0{scope}\0{operation_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class _Statements:
    """The in-transaction admission statements of one connection's dialect."""

    def __init__(self, dialect: Dialect) -> None:
        placeholders = ", ".join(["%s"] * len(INSERT_COLUMNS))
        cols = ", ".join(dialect.col[n] for n in INSERT_COLUMNS)
        # PostgreSQL: take the operation's lock without waiting, and insert only when it was taken.
        # The CTE ``ins`` reads ``lock``, so the lock is tried before the insert.
        self.lock_and_insert = (
            f"WITH lock AS (SELECT pg_try_advisory_xact_lock(%s) AS got), "
            f"ins AS (INSERT INTO {dialect.table} ({cols}) SELECT {placeholders} FROM lock WHERE got "
            f"ON CONFLICT {dialect.conflict} DO NOTHING RETURNING 1) "
            f"SELECT got, EXISTS (SELECT 1 FROM ins) FROM lock"
        )
        self.insert_ignore = f"{dialect.insert} ON CONFLICT {dialect.conflict} DO NOTHING"


_statements: weakref.WeakKeyDictionary[Dialect, _Statements] = weakref.WeakKeyDictionary()


def _statements_of(dialect: Dialect) -> _Statements:
    found = _statements.get(dialect)
    if found is None:
        found = _statements[dialect] = _Statements(dialect)
    return found


def peek(store: DjangoOperationStore, operation_id: int, fingerprint: bytes | None) -> Admission | None:
    """What an admission would answer for a stored row (one SELECT, no transaction); None: no row."""
    operation_id = check_operation_id(operation_id)
    conn = connections[store.alias]
    dialect = dialect_for(conn)
    with store.cursor(conn) as cursor:
        cursor.execute(dialect.select_row, dialect.key(store.scope, operation_id))
        found = cursor.fetchone()
    if found is None:
        return None
    return dialect.row(found).classify(fingerprint_digest(fingerprint), store.now())


def admit(
    store: DjangoOperationStore,
    operation_id: int,
    *,
    fingerprint: bytes | None,
    lease: timedelta,
    method: str,
    key: str,
) -> Admission:
    """Insert the admitted row in the transaction open on the store's database (see the module doc).

    ``IN_FLIGHT`` without a token: another transaction holds the operation. Any other outcome but
    ``ADMITTED`` comes from a row committed before this statement (read after the lock was taken).
    """
    operation_id = check_operation_id(operation_id)
    digest = fingerprint_digest(fingerprint)
    lease = check_lease(lease)
    method, key = check_text(method, "method", 255), check_text(key, "key", 255)
    conn = connections[store.alias]
    if not conn.in_atomic_block:
        raise RuntimeError("op_store: an in-transaction admission needs a transaction open on the store's database")
    dialect = dialect_for(conn)
    now = store.now()
    token = new_token()
    lease_expires_at = now + lease
    values = admitted_row(
        store.scope,
        operation_id,
        method=method,
        key=key,
        fingerprint=digest,
        token=token,
        transactional=True,
        created_at=now,
        lease_expires_at=lease_expires_at,
    )
    params = dialect.prep_values(INSERT_COLUMNS, values)
    row_key = dialect.key(store.scope, operation_id)
    inserted, row = _insert(store, conn, dialect, params, row_key)
    if inserted is None:
        return _IN_FLIGHT
    if inserted:
        admission = Admission(AdmissionOutcome.ADMITTED, token, lease_expires_at=lease_expires_at, transactional=True)
        store._admitted(operation_id, admission, method, key, taken_over=False)
        return admission
    if row is None:
        with store.cursor(conn) as cursor:
            cursor.execute(dialect.select_row, row_key)
            found = cursor.fetchone()
        if found is None:  # the conflicting row was deleted since: a retry admits
            return _IN_FLIGHT
        row = dialect.row(found)
    return row.classify(digest, now)


def _insert(
    store: DjangoOperationStore, conn: BaseDatabaseWrapper, dialect: Dialect, params: list[Any], row_key: list[Any]
) -> tuple[bool | None, StoredRow | None]:
    """Inserted (True), a row is there (False, with the row when the statement read it), or another
    transaction holds the operation (None)."""
    if store.uses_admission_function(dialect):
        assert isinstance(dialect, PostgresDialect)
        # One statement: the function reads the row, takes the lock and inserts.
        with store.cursor(conn) as cursor:
            inserted, row = dialect.call_admission_function(
                cursor, params, lock_key(dialect.table, store.scope, row_key[1])
            )
        # No row at all: the conflicting row was deleted since; a retry admits.
        return (None, None) if row is None else (inserted, row)
    if conn.vendor == "postgresql":
        with store.cursor(conn) as cursor:
            cursor.execute(
                _statements_of(dialect).lock_and_insert, [lock_key(dialect.table, store.scope, row_key[1]), *params]
            )
            got, inserted = cursor.fetchone()
        return (bool(inserted) if got else None), None
    if conn.vendor == "sqlite":
        try:
            with store.cursor(conn) as cursor:
                cursor.execute(_statements_of(dialect).insert_ignore, params)
                return cursor.rowcount == 1, None
        except OperationalError as exc:
            if dialect.busy_error(exc) is not None:
                return None, None  # the busy timeout ran out while another transaction wrote
            raise
    try:
        with transaction.atomic(using=conn.alias), store.cursor(conn) as cursor:
            cursor.execute(dialect.insert, params)
    except IntegrityError:
        return False, None
    return True, None


def waited_out(store: DjangoOperationStore, exc: BaseException) -> bool:
    """Whether ``exc`` is a lock wait that ran out on the store's database: SQLite's busy timeout
    (also at a ``BEGIN IMMEDIATE``, before the admission ran), PostgreSQL's ``lock_timeout``."""
    if not isinstance(exc, DatabaseError):
        return False
    return dialect_for(connections[store.alias]).busy_error(exc) is not None


def discard(store: DjangoOperationStore, operation_id: int, token: int) -> None:
    """Delete our own admitted row in the open transaction (a reply the policy does not seal)."""
    conn = connections[store.alias]
    dialect = dialect_for(conn)
    with store.cursor(conn) as cursor:
        cursor.execute(dialect.delete_owned, [*dialect.key(store.scope, operation_id), _ADMITTED, token])
