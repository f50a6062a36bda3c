"""The store's SQL per database vendor, and how each vendor admits an operation.

A :class:`Dialect` is built once per connection: it holds the statements (quoted for that
backend), adapts parameters through the model fields and converts rows with the backend's
converters. The generic :class:`Dialect` runs on any backend (an INSERT, and a SELECT on a unique
violation); :class:`SqliteDialect` and :class:`PostgresDialect` override what their SQL does
better, and :class:`MySqlDialect` does the same for MySQL and MariaDB (docs/deployment.md).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, NoReturn

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import CharField

from op_store.conf import DATABASE_SETTINGS, op_store_settings, reset_on_change
from op_store.models import Operation, Schema
from op_store.vox.ids import u64_to_i64
from op_store.vox.schema import TypeRef

from ..base import Admission, OperationState, SealedResponse, StoreBusyError
from ..common import classify_existing
from .outcomes import IsolationLimit

logger = logging.getLogger("op_store")

__all__ = [
    "ADMISSION_FUNCTION",
    "DIALECTS",
    "INSERT_COLUMNS",
    "INSERT_SEALED_COLUMNS",
    "ROW_COLUMNS",
    "SEAL_COLUMNS",
    "Dialect",
    "Isolation",
    "MySqlDialect",
    "PostgresDialect",
    "SqliteDialect",
    "StoredRow",
    "dialect_class",
    "dialect_for",
    "forget_dialects",
    "lock_timeout_text",
]

#: The columns an admission reads back, in this order (see :meth:`Dialect.row`).
ROW_COLUMNS = (
    "state",
    "token",
    "fingerprint",
    "lease_expires_at",
    "transactional",
    "response",
    "root_type",
    "status_code",
)
#: The columns of an admission's INSERT, in parameter order.
INSERT_COLUMNS = (
    "scope",
    "operation_id",
    "state",
    "method",
    "key",
    "fingerprint",
    "token",
    "transactional",
    "created_at",
    "lease_expires_at",
)
#: The columns a seal sets, in parameter order.
SEAL_COLUMNS = ("state", "response", "root_type", "response_size", "status_code", "sealed_at", "expires_at")
#: The columns of a seal without admission (an INSERT of a sealed row), in parameter order.
INSERT_SEALED_COLUMNS = tuple(n for n in INSERT_COLUMNS if n != "state") + SEAL_COLUMNS

_DATETIMES = frozenset({"created_at", "lease_expires_at", "sealed_at", "expires_at"})
#: Columns whose values the field must adapt (u64 -> i64, datetimes, bytes, JSON).
_ADAPTED = frozenset(
    {
        "operation_id",
        "fingerprint",
        "response",
        "root_type",
        "created_at",
        "lease_expires_at",
        "sealed_at",
        "expires_at",
    }
)
#: The PostgreSQL admission function (``op_store/migrations/0003_admission_function.py``); its
#: parameters are :data:`INSERT_COLUMNS`, the lock bound and the one-commit mode's lock key.
ADMISSION_FUNCTION = "op_store_admit"
#: Values of a column outside ``_ADAPTED`` that go to the driver as they are.
_PLAIN_TYPES = (str, int, bool)
#: How often an admission is tried again when a concurrent change hid the row from it.
_ADMISSION_ATTEMPTS = 5

_ADMITTED = Operation.State.ADMITTED.value
#: Stored state text -> OperationState: a dict look-up instead of an Enum call per row read.
_STATES = {state.value: state for state in OperationState}
_STATE_INDEX = INSERT_COLUMNS.index("state")


def admitted_row(
    scope: str,
    operation_id: int,
    *,
    method: str,
    key: str,
    fingerprint: bytes | None,
    token: int,
    transactional: bool,
    created_at: datetime,
    lease_expires_at: datetime,
) -> dict[str, Any]:
    """The column values of a newly admitted row (by :data:`INSERT_COLUMNS` name), for both the
    default admission and the one-commit mode's."""
    return {
        "scope": scope,
        "operation_id": operation_id,
        "state": _ADMITTED,
        "method": method,
        "key": key,
        "fingerprint": fingerprint,
        "token": token,
        "transactional": transactional,
        "created_at": created_at,
        "lease_expires_at": lease_expires_at,
    }


def _bounded(value: str) -> str:
    """``value``, computed only after ``lock_timeout`` was set for the rest of this transaction
    (the first ``%s`` is the bound; see :class:`PostgresDialect`)."""
    return f"CASE WHEN set_config('lock_timeout', %s, true) IS NOT NULL THEN {value} END"


def lock_timeout_text(bound: timedelta) -> str:
    """A duration as a ``lock_timeout`` value: whole milliseconds, at least one (0 would mean none)."""
    return f"{max(1, round(bound.total_seconds() * 1000))}ms"


#: A factory of the store's cursors on the dialect's connection (prepared or not).
CursorFactory = Callable[[], AbstractContextManager[Any]]


@dataclass(frozen=True, slots=True)
class Isolation:
    """Whether admissions can commit apart from the caller's transaction; ``limit`` says why not,
    ``detail`` names the setting's value (the transaction or journal mode), ``reason`` in words."""

    possible: bool
    limit: IsolationLimit | None = None
    detail: str = ""

    @property
    def reason(self) -> str:
        if self.limit is None:
            return ""
        return self.limit.value.format(detail=self.detail)


@dataclass(frozen=True, slots=True)
class StoredRow:
    """An operation's row as an admission reads it (the lease is converted only for admitted rows)."""

    state: OperationState
    token: int
    fingerprint: bytes | None
    lease_expires_at: datetime | None
    transactional: bool
    response: bytes | None
    root_type: TypeRef | None  # parsed for sealed rows only
    status_code: int | None

    def sealed(self) -> SealedResponse:
        assert self.response is not None and self.root_type is not None
        return SealedResponse(self.response, self.root_type, self.status_code)

    def classify(self, digest: bytes | None, now: datetime) -> Admission:
        return classify_existing(
            state=self.state,
            token=self.token,
            stored_fingerprint=self.fingerprint,
            lease_expires_at=self.lease_expires_at,
            transactional=self.transactional,
            sealed=self.sealed,
            offered_fingerprint=digest,
            now=now,
        )


class Dialect:
    """Portable SQL: works on any backend Django supports; vendors override what they do better."""

    vendor: ClassVar[str] = ""
    #: Whether :meth:`admit` reads the row before it inserts (then ``READ_FIRST`` adds nothing).
    reads_first: ClassVar[bool] = False
    #: Whether ``release``/``remove`` run on the sibling connection inside a caller's transaction.
    removes_on_sibling: ClassVar[bool] = True

    def __init__(self, conn: BaseDatabaseWrapper) -> None:
        qn = conn.ops.quote_name
        meta = Operation._meta
        self.conn = weakref.proxy(conn)
        self.alias = conn.alias
        self.fields = {f.name: f for f in meta.concrete_fields}
        col = self.col = {name: qn(str(f.column)) for name, f in self.fields.items()}
        t = self.table = qn(meta.db_table)
        st = self.schema_table = qn(Schema._meta.db_table)
        self.schema_pk = f"{st}.{qn(str(Schema._meta.get_field('id').column))}"
        where = self.where = f"{col['scope']} = %s AND {col['operation_id']} = %s"
        self.conflict = f"({col['scope']}, {col['operation_id']})"
        self.row_columns = ", ".join(col[n] for n in ROW_COLUMNS)
        self.select_row = f"SELECT {self.row_columns} FROM {t} WHERE {where}"
        self.select_state = f"SELECT {col['state']} FROM {t} WHERE {where}"
        self.select_state_token = f"SELECT {col['state']}, {col['token']} FROM {t} WHERE {where}"
        self.select_sealed = (
            f"SELECT {col['state']}, {col['response']}, {col['root_type']}, {col['status_code']} FROM {t} WHERE {where}"
        )
        cols = ", ".join(col[n] for n in INSERT_COLUMNS)
        self.insert = f"INSERT INTO {t} ({cols}) VALUES ({', '.join(['%s'] * len(INSERT_COLUMNS))})"
        sealed_cols = ", ".join(col[n] for n in INSERT_SEALED_COLUMNS)
        self.insert_sealed = (
            f"INSERT INTO {t} ({sealed_cols}) VALUES ({', '.join(['%s'] * len(INSERT_SEALED_COLUMNS))})"
        )
        self.take_over = (
            f"UPDATE {t} SET {col['token']} = %s, {col['lease_expires_at']} = %s, {col['transactional']} = %s "
            f"WHERE {where} AND {col['state']} = %s AND {col['token']} = %s AND {col['lease_expires_at']} < %s"
        )
        sets = ", ".join(f"{col[n]} = %s" for n in SEAL_COLUMNS)
        self.seal_owned = f"UPDATE {t} SET {sets} WHERE {where} AND {col['state']} = %s AND {col['token']} = %s"
        self.seal_admitted = f"UPDATE {t} SET {sets} WHERE {where} AND {col['state']} = %s"
        self.exists_schema = f"EXISTS (SELECT 1 FROM {st} WHERE {self.schema_pk} = %s)"
        self.delete_owned = f"DELETE FROM {t} WHERE {where} AND {col['state']} = %s AND {col['token']} = %s"
        self.delete_admitted = f"DELETE FROM {t} WHERE {where} AND {col['state']} = %s"
        self._converters = {name: self._field_converters(conn, name) for name in self.fields}
        self._root_params: dict[TypeRef, Any] = {}

    # --- what the settings alone say about a second connection -------------------------------

    @classmethod
    def static_isolation(cls, settings_dict: dict[str, Any]) -> Isolation | None:
        """Whether a second connection can admit apart from the caller's transaction, from the
        database's settings alone; None when only the database can tell (:meth:`probe_isolation`)."""
        return Isolation(True)

    def probe_isolation(self, cursor: Any) -> Isolation:
        """Ask the database what :meth:`static_isolation` could not decide."""
        return Isolation(True)

    def on_sibling_connected(self, conn: BaseDatabaseWrapper) -> None:
        """Session settings of a freshly opened sibling connection."""

    def take_over_params(self, params: list[Any]) -> list[Any]:
        """The parameters of ``take_over`` as this dialect's statement takes them."""
        return params

    def busy_error(self, exc: DatabaseError) -> StoreBusyError | None:
        """``exc`` as a :class:`StoreBusyError` when it says a lock wait ran out, else None."""
        return None

    # --- statements that differ by vendor ----------------------------------------------------

    def delete_statement(self, *, owned: bool, on_sibling: bool) -> str:
        """The DELETE of an admitted row (``owned``: only with the owner's token)."""
        return self.delete_owned if owned else self.delete_admitted

    def admit(
        self, cursor: CursorFactory, key: list[Any], insert_params: Callable[[], list[Any]]
    ) -> tuple[bool, StoredRow | None]:
        """Insert the admission, or read the row that is there: (inserted, the row found or None)."""
        params = insert_params()
        conn = self.conn
        for _ in range(_ADMISSION_ATTEMPTS):
            try:
                block = transaction.atomic(using=self.alias) if conn.in_atomic_block else nullcontext()
                with block, cursor() as c:
                    c.execute(self.insert, params)
                return True, None
            except IntegrityError:
                pass
            with cursor() as c:
                c.execute(self.select_row, key)
                found = c.fetchone()
            if found is not None:
                return False, self.row(found)
        self.admission_failed(key)

    def insert_sealed_row(self, c: Any, params: list[Any]) -> bool:
        """Insert a row sealed from the start (a seal without admission); False if one exists."""
        try:
            with transaction.atomic(using=self.alias):
                c.execute(self.insert_sealed, params)
        except IntegrityError:
            return False
        return True

    def admission_failed(self, key: list[Any]) -> NoReturn:
        """Every attempt was overtaken by a concurrent change (in practice: never)."""
        raise RuntimeError(f"op_store: could not admit or read operation {key[1]} (scope {key[0]!r})")

    # --- parameters and rows -----------------------------------------------------------------

    def _field_converters(self, conn: BaseDatabaseWrapper, name: str) -> tuple[Any, list[Any]]:
        col = self.fields[name].get_col(Operation._meta.db_table)
        return col, [*conn.ops.get_db_converters(col), *col.get_db_converters(conn)]

    def prep(self, name: str, value: Any) -> Any:
        """``value`` adapted for this backend by the model field (plain text and ints pass as they are).

        An aware datetime (what the store's clock gives) goes straight to the backend's adapter, as
        ``DateTimeField.get_db_prep_value`` would send it after checks that only naive values need.
        """
        if value is None or (name not in _ADAPTED and type(value) in _PLAIN_TYPES):
            return value
        if name in _DATETIMES and type(value) is datetime and value.tzinfo is not None and settings.USE_TZ:
            return self.conn.ops.adapt_datetimefield_value(value)
        return self.fields[name].get_db_prep_value(value, connection=self.conn, prepared=False)

    def prep_values(self, names: Sequence[str], values: dict[str, Any]) -> list[Any]:
        """:meth:`prep` of ``values[name]`` for each of ``names``, in order: the parameters of a row.

        Plain text and ints (most columns) are passed inline, without a call of :meth:`prep` each.
        """
        prep = self.prep
        params = []
        for name in names:
            value = values[name]
            plain = value is None or (name not in _ADAPTED and type(value) in _PLAIN_TYPES)
            params.append(value if plain else prep(name, value))
        return params

    def prep_root_type(self, root: TypeRef) -> Any:
        """The adapted ``root_type`` column value of ``root``, built once per distinct root type."""
        found = self._root_params.get(root)
        if found is None:
            found = self.prep("root_type", root.to_json())
            if len(self._root_params) >= _ROOT_TYPES_MAX:
                self._root_params.clear()
            self._root_params[root] = found
        return found

    def convert(self, name: str, value: Any) -> Any:
        col, converters = self._converters[name]
        for converter in converters:
            value = converter(value, col, self.conn)
        return value

    @staticmethod
    def key(scope: str, operation_id: int) -> list[Any]:
        """The parameters of ``where``: one operation in one scope."""
        return [scope, u64_to_i64(operation_id)]

    def root_type(self, stored: Any) -> TypeRef | None:
        """The TypeRef of a stored ``root_type`` (JSON text), parsed once per distinct text.

        Replies share a handful of root types, and a replay is the hot path: converting the column
        and building the TypeRef again for every replay would cost more than the lookup's SELECT on
        SQLite. TypeRefs are immutable, so one instance can be shared.
        """
        if stored is None:
            return None
        if isinstance(stored, str):
            found = _ROOT_TYPES.get(stored)
            if found is None:
                found = TypeRef.from_json(self.convert("root_type", stored))
                if len(_ROOT_TYPES) >= _ROOT_TYPES_MAX:
                    _ROOT_TYPES.clear()
                _ROOT_TYPES[stored] = found
            return found
        return TypeRef.from_json(self.convert("root_type", stored))

    def row(self, values: Sequence[Any]) -> StoredRow:
        """A stored row, converting only what its state needs (a replay reads no lease)."""
        state = _STATES.get(values[0])
        if state is None:
            state = OperationState(values[0])  # raises on a value that is no state
        fingerprint = values[2]
        response = values[5]
        if state is OperationState.SEALED:
            lease_expires_at, transactional = None, False
        else:
            lease_expires_at = self.convert("lease_expires_at", values[3])
            transactional = bool(self.convert("transactional", values[4]))
        return StoredRow(
            state,
            int(values[1]),
            None if fingerprint is None else bytes(fingerprint),
            lease_expires_at,
            transactional,
            None if response is None else bytes(response),
            self.root_type(values[6]) if state is OperationState.SEALED else None,
            values[7],
        )


class SqliteDialect(Dialect):
    """SQLite: one writer at a time, and even a conflicting INSERT takes the write lock."""

    vendor = "sqlite"
    reads_first = True
    # After the handler wrote, the caller's transaction holds the write lock: a sibling would wait.
    removes_on_sibling = False

    def __init__(self, conn: BaseDatabaseWrapper) -> None:
        super().__init__(conn)
        # Only for a new id (a replay is read first, see admit()).
        self.admit_statement = f"{self.insert} ON CONFLICT {self.conflict} DO NOTHING RETURNING {self.row_columns}"
        self.insert_sealed_ignore = f"{self.insert_sealed} ON CONFLICT {self.conflict} DO NOTHING"

    @classmethod
    def static_isolation(cls, settings_dict: dict[str, Any]) -> Isolation | None:
        name = str(settings_dict.get("NAME") or ":memory:")
        if name == ":memory:" or ("mode=memory" in name and "cache=shared" not in name):
            return Isolation(False, IsolationLimit.PRIVATE_MEMORY)
        mode = str((settings_dict.get("OPTIONS") or {}).get("transaction_mode") or "").upper()
        if mode in ("IMMEDIATE", "EXCLUSIVE"):
            return Isolation(False, IsolationLimit.WRITE_LOCK_MODE, mode)
        if "mode=memory" in name:
            return Isolation(True)  # shared-cache in-memory (test databases)
        return None  # a file: depends on the journal mode

    def probe_isolation(self, cursor: Any) -> Isolation:
        journal = self.journal_mode(cursor)
        if journal == "wal":
            return Isolation(True)
        return Isolation(False, IsolationLimit.NOT_WAL, journal or "?")

    @staticmethod
    def journal_mode(cursor: Any) -> str:
        cursor.execute("PRAGMA journal_mode")
        row = cursor.fetchone()
        return str(row[0] if row else "").lower()

    def admit(
        self, cursor: CursorFactory, key: list[Any], insert_params: Callable[[], list[Any]]
    ) -> tuple[bool, StoredRow | None]:
        # Read first: on SQLite any INSERT attempt, even one that conflicts and inserts nothing,
        # takes the write lock and (AUTOINCREMENT) rewrites sqlite_sequence, i.e. a commit with
        # an fsync. A replay must stay a plain read.
        params: list[Any] | None = None
        for _ in range(_ADMISSION_ATTEMPTS):
            with cursor() as c:
                c.execute(self.select_row, key)
                found = c.fetchone()
                if found is not None:
                    return False, self.row(found)
                if params is None:
                    params = insert_params()
                c.execute(self.admit_statement, params)
                found = c.fetchone()
            if found is not None:
                return True, None  # our own row: the caller knows its values (nothing to convert)
        self.admission_failed(key)

    def insert_sealed_row(self, c: Any, params: list[Any]) -> bool:
        c.execute(self.insert_sealed_ignore, params)
        return bool(c.rowcount == 1)

    def busy_error(self, exc: DatabaseError) -> StoreBusyError | None:
        # SQLITE_BUSY after the busy timeout ("database is locked") or SQLITE_LOCKED in a shared
        # cache ("database table is locked"): another connection holds the write lock.
        message = str(exc)
        if "is locked" not in message:
            return None
        return StoreBusyError(f"op_store: database {self.alias!r} is busy: {message}", in_flight=False)


def _sqlstate(exc: DatabaseError) -> str | None:
    """The SQLSTATE of the driver's error behind Django's (psycopg 3: ``sqlstate``, psycopg2: ``pgcode``)."""
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)


class PostgresDialect(Dialect):
    """PostgreSQL: the admission is one statement, and no wait on a locked row lasts longer than
    ``OP_STORE["LOCK_TIMEOUT"]``.

    The bound is set inside the statements that can wait (the admission, the take-over) with
    ``set_config('lock_timeout', ..., true)``, evaluated while the row is built, before the
    statement looks for a conflicting or locked row: it lasts for that statement's transaction
    only, so it holds behind PgBouncer in transaction pooling (where a session ``SET`` lands on some
    server connection and sticks there for other clients) and with prepared statements, and it
    costs no round trip. See docs/architecture.md, "Bounded waits".
    """

    vendor = "postgresql"
    #: SQLSTATE lock_not_available: a wait ran into ``lock_timeout``.
    LOCK_NOT_AVAILABLE = "55P03"
    #: SQLSTATE undefined_function: ``op_store_admit`` is not on the connection's ``search_path``.
    UNDEFINED_FUNCTION = "42883"

    def __init__(self, conn: BaseDatabaseWrapper) -> None:
        super().__init__(conn)
        col, t, where = self.col, self.table, self.where
        # ``OP_STORE["ADMISSION_FUNCTION"]``: the call of ``op_store_admit`` (migration 0003). Typed
        # placeholders, so that the call resolves to the function whatever types the driver sends
        # (text, not varchar(n): a cast to varchar(n) would cut a value short instead of failing).
        types = [
            "text" if isinstance(self.fields[n], CharField) else str(self.fields[n].db_type(conn))
            for n in INSERT_COLUMNS
        ]
        # CAST, not ``::``: a client-bound -9223372036854775808 would be cast before it is negated.
        arguments = ", ".join(f"CAST(%s AS {name})" for name in [*types, "text", "bigint"])
        self.call_admit = f"SELECT * FROM {conn.ops.quote_name(ADMISSION_FUNCTION)}({arguments})"
        #: Set when a call found no function: this connection's admissions use the CTE from then on.
        self.function_missing = False
        row = self.row_columns
        bounded_state = _bounded("%s")
        values = ", ".join(bounded_state if n == "state" else "%s" for n in INSERT_COLUMNS)
        cols = ", ".join(col[n] for n in INSERT_COLUMNS)
        insert = f"INSERT INTO {t} ({cols}) VALUES ({values})"
        self.admit_statement = (
            f"WITH ins AS ({insert} ON CONFLICT {self.conflict} DO NOTHING RETURNING {row}) "
            f"SELECT TRUE, {row} FROM ins UNION ALL SELECT FALSE, {row} FROM {t} WHERE {where}"
        )
        self.take_over = (
            f"UPDATE {t} SET {col['token']} = %s, {col['lease_expires_at']} = %s, "
            f"{col['transactional']} = {_bounded('%s')} "
            f"WHERE {where} AND {col['state']} = %s AND {col['token']} = %s AND {col['lease_expires_at']} < %s"
        )
        self.insert_sealed_ignore = f"{self.insert_sealed} ON CONFLICT {self.conflict} DO NOTHING"
        # On the sibling, never wait on a row another transaction holds (it is being sealed).
        pk = col["id"]
        locked = f"SELECT {pk} FROM {t} WHERE {where} AND {col['state']} = %s"
        self.delete_owned_nowait = (
            f"DELETE FROM {t} WHERE {pk} IN ({locked} AND {col['token']} = %s FOR UPDATE SKIP LOCKED)"
        )
        self.delete_admitted_nowait = f"DELETE FROM {t} WHERE {pk} IN ({locked} FOR UPDATE SKIP LOCKED)"

    @staticmethod
    def lock_timeout() -> str:
        """The ``lock_timeout`` value of the store's bounded statements, from the settings."""
        return lock_timeout_text(op_store_settings.LOCK_TIMEOUT)

    def admit_params(self, insert: list[Any], key: list[Any]) -> list[Any]:
        """The parameters of ``admit_statement``: the INSERT's, the bound's with the state's, the key."""
        return [*insert[:_STATE_INDEX], self.lock_timeout(), *insert[_STATE_INDEX:], *key]

    def take_over_params(self, params: list[Any]) -> list[Any]:
        # The bound's parameter comes just before the transactional flag's (the third SET value).
        return [*params[:2], self.lock_timeout(), *params[2:]]

    def busy_error(self, exc: DatabaseError) -> StoreBusyError | None:
        if _sqlstate(exc) != self.LOCK_NOT_AVAILABLE:
            return None
        return StoreBusyError(
            f"op_store: the operation's row stayed locked by another transaction for longer than "
            f"{self.lock_timeout()} (it is being run or sealed)",
            in_flight=True,
        )

    def delete_statement(self, *, owned: bool, on_sibling: bool) -> str:
        if not on_sibling:
            return super().delete_statement(owned=owned, on_sibling=False)
        return self.delete_owned_nowait if owned else self.delete_admitted_nowait

    def call_admission_function(
        self, c: Any, insert: list[Any], lock_key: int | None
    ) -> tuple[bool | None, StoredRow | None]:
        """Run ``op_store_admit``: (inserted, the row), (None, None) when another transaction holds
        ``lock_key`` (the one-commit mode), (False, None) when the row vanished (try again).

        The one-commit mode passes no lock bound: a bound set in the caller's transaction would
        last into the view's own statements.
        """
        try:
            c.execute(self.call_admit, [*insert, None if lock_key is not None else self.lock_timeout(), lock_key])
        except DatabaseError as exc:
            if _sqlstate(exc) == self.UNDEFINED_FUNCTION and not self.function_missing:
                self.function_missing = True
                logger.warning(
                    "op_store: OP_STORE['ADMISSION_FUNCTION'] is on, but database %r has no function %s on "
                    "its search_path (migration op_store.0003 not applied?): this connection admits with "
                    "the default statement from now on (op_store.W011, docs/deployment.md).",
                    self.alias,
                    ADMISSION_FUNCTION,
                )
            raise
        found = c.fetchone()
        if found is None:
            return False, None
        if found[0] is None:
            return None, None
        return bool(found[0]), self.row(found[1:])

    def admit_by_function(
        self, cursor: CursorFactory, key: list[Any], insert_params: Callable[[], list[Any]]
    ) -> tuple[bool, StoredRow | None]:
        """:meth:`admit` by one call of ``op_store_admit``, which reads the row first (a replay
        writes nothing) and sees a concurrent insert it conflicted with (no retry loop needed but
        for a row deleted in between). ``READ_FIRST`` still reads with a plain SELECT before: it
        costs less than the call on the client (no INSERT parameters to build and send)."""
        insert = insert_params()
        for _ in range(_ADMISSION_ATTEMPTS):
            try:
                with cursor() as c:
                    inserted, row = self.call_admission_function(c, insert, None)
            except DatabaseError:
                # Without the function, admit by the CTE; not inside a transaction, which the error ended.
                if not self.function_missing or self.conn.in_atomic_block:
                    raise
                return self.admit(cursor, key, lambda: insert)
            if row is not None:
                return bool(inserted), row
            # The row was deleted between the conflict and the read: try again.
        self.admission_failed(key)

    def admit(
        self, cursor: CursorFactory, key: list[Any], insert_params: Callable[[], list[Any]]
    ) -> tuple[bool, StoredRow | None]:
        params = self.admit_params(insert_params(), key)
        for _ in range(_ADMISSION_ATTEMPTS):
            with cursor() as c:
                c.execute(self.admit_statement, params)
                rows = c.fetchall()
            # Two rows only if the row we saw was deleted (committed) before our insert: ours wins.
            found = next((r for r in rows if r[0]), rows[0] if rows else None)
            if found is not None:
                return bool(found[0]), self.row(found[1:])
            # A concurrent insert committed after our snapshot: our insert conflicted and our
            # SELECT could not see it yet. A new statement has a new snapshot.
        self.admission_failed(key)

    def insert_sealed_row(self, c: Any, params: list[Any]) -> bool:
        c.execute(self.insert_sealed_ignore, params)
        return bool(c.rowcount == 1)


class MySqlDialect(Dialect):
    """MySQL and MariaDB (InnoDB): read first, then ``INSERT IGNORE`` only for a new id.

    Measured (``benchmarks/mysql_admission.py``): a replay is one plain SELECT, with no write, no
    lock and no auto-increment value spent, and a new id costs a SELECT more than an insert-first
    admission. InnoDB has no ``RETURNING`` that reports a skipped row, and with Django's
    ``CLIENT.FOUND_ROWS`` an ``ON DUPLICATE KEY UPDATE id = id`` reports 1 whether it inserted or not.
    ``IGNORE`` turns only errors the store cannot cause into warnings here: the store checks the
    lengths of its text, and the table has no foreign keys.

    Read-first needs READ COMMITTED (Django's default for MySQL, ``OPTIONS["isolation_level"]``):
    under InnoDB's REPEATABLE READ a second SELECT in the same transaction reads the first one's
    snapshot and would never see the row that made the INSERT a duplicate (``op_store.W008``).
    The sibling sets it on its own session whatever the settings say.
    """

    vendor = "mysql"
    reads_first = True
    #: The isolation level op_store's reads need (see the class docstring).
    isolation_level = "READ COMMITTED"
    #: ``innodb_lock_wait_timeout`` (seconds) of the sibling: a wait on one's own transaction ends.
    lock_wait_timeout = 10

    def __init__(self, conn: BaseDatabaseWrapper) -> None:
        super().__init__(conn)
        self.insert_ignore = self.insert.replace("INSERT INTO", "INSERT IGNORE INTO", 1)
        self.insert_sealed_ignore = self.insert_sealed.replace("INSERT INTO", "INSERT IGNORE INTO", 1)

    def on_sibling_connected(self, conn: BaseDatabaseWrapper) -> None:
        with conn.cursor() as cursor:
            # Django already set the level when the settings ask for it (its default): skip a round trip.
            if str(getattr(conn, "isolation_level", "") or "").upper() != self.isolation_level:
                cursor.execute(f"SET SESSION TRANSACTION ISOLATION LEVEL {self.isolation_level}")
            cursor.execute(f"SET SESSION innodb_lock_wait_timeout = {self.lock_wait_timeout}")

    def admit(
        self, cursor: CursorFactory, key: list[Any], insert_params: Callable[[], list[Any]]
    ) -> tuple[bool, StoredRow | None]:
        params: list[Any] | None = None
        for _ in range(_ADMISSION_ATTEMPTS):
            with cursor() as c:
                c.execute(self.select_row, key)
                found = c.fetchone()
                if found is not None:
                    return False, self.row(found)
                if params is None:
                    params = insert_params()
                # Ignored when a concurrent admission inserted the id first (after waiting for its
                # commit if it is still open): read again, a new statement sees it under READ COMMITTED.
                c.execute(self.insert_ignore, params)
                if c.rowcount == 1:
                    return True, None
        self.admission_failed(key)

    def insert_sealed_row(self, c: Any, params: list[Any]) -> bool:
        c.execute(self.insert_sealed_ignore, params)
        return bool(c.rowcount == 1)


#: The dialect of each vendor; any other vendor gets the portable :class:`Dialect`.
DIALECTS: dict[str, type[Dialect]] = {
    SqliteDialect.vendor: SqliteDialect,
    PostgresDialect.vendor: PostgresDialect,
    MySqlDialect.vendor: MySqlDialect,
}


def dialect_class(vendor: str) -> type[Dialect]:
    """The dialect class of a vendor (what the system checks ask without a connection)."""
    return DIALECTS.get(vendor, Dialect)


_dialects: weakref.WeakKeyDictionary[BaseDatabaseWrapper, Dialect] = weakref.WeakKeyDictionary()


def dialect_for(conn: BaseDatabaseWrapper) -> Dialect:
    """The dialect of ``conn`` (built on first use, kept as long as the connection object lives)."""
    try:
        return _dialects[conn]
    except KeyError:
        dialect = _dialects[conn] = dialect_class(conn.vendor)(conn)
        return dialect


@reset_on_change(*DATABASE_SETTINGS)
def forget_dialects() -> None:
    """Drop every built dialect (the settings their statements and converters came from changed)."""
    _dialects.clear()


#: Stored root types (JSON text) -> TypeRef, see :meth:`Dialect.root_type`; bounded, cleared when full.
_ROOT_TYPES: dict[str, TypeRef] = {}
_ROOT_TYPES_MAX = 1024
