"""``DjangoOperationStore``: the OperationStore contract on the Django ORM (DESIGN §4, §5).

Database alias
    ``using``, else ``OP_STORE["DATABASE"]``, else ``router.db_for_write(Operation)``, else
    ``"default"``; resolved on every call, so ``override_settings`` and routers apply. Reads
    (``lookup``, ``get_sealed``, replays) use that same alias on purpose: a lagging replica could
    miss an admission or a seal.

Statements
    The hot paths are single, hand-written SQL statements on the alias (portable SQL, values
    adapted by the model fields, results converted by the backend's converters):

    - admission (``try_admit``/``admit``). PostgreSQL, one statement whether the id is new or not:
      ``WITH ins AS (INSERT .. ON CONFLICT DO NOTHING RETURNING ..) SELECT .. FROM ins UNION ALL
      SELECT .. FROM op_store_operation WHERE ..`` (retried in the rare race where a concurrent
      insert commits between the snapshot and the conflict check). SQLite: a SELECT, and only when
      the id is new an ``INSERT .. ON CONFLICT DO NOTHING RETURNING ..`` (two statements for a fresh
      admission, one for a replay: on SQLite every INSERT attempt, even a conflicting one, takes the
      write lock and commits with an fsync, so a replay must stay a read). Other backends: INSERT,
      then a SELECT on conflict.
    - ``take_over``: a compare-and-set UPDATE on (scope, id, state=admitted, token, lease < now).
    - ``seal_owned``: a conditional UPDATE (token matches, state admitted). New schemas are inserted
      with ``bulk_create(ignore_conflicts=True)`` in the same transaction, after the UPDATE.
    - ``release``: a conditional DELETE (on the sibling connection: ``FOR UPDATE SKIP LOCKED``, so
      it never waits on a row another transaction is sealing; it then reports False).

Admission commits on its own (the sibling connection)
    An admission must be committed and visible to every other connection before the handler runs,
    even when the caller is inside ``ATOMIC_REQUESTS`` or its own ``transaction.atomic()``. When the
    alias's connection is in such a transaction, admissions (``try_admit``, ``admit``,
    ``take_over``, and on PostgreSQL ``release``/``remove``) run on a *sibling connection*: a
    private ``DatabaseWrapper`` built from a copy of the alias's settings (alias
    ``"<alias>__op_store_admit"``), one per thread, in autocommit mode. It is deliberately not
    registered in ``django.db.connections``: Django's test machinery then neither creates a test
    database for it nor forbids it in tests that only allow the real alias (it counts as a
    "dynamically created connection"), and the copy is taken from the live settings, so it follows
    pytest-django's test database name on SQLite (shared-cache in-memory) and PostgreSQL alike. With
    ``CONN_MAX_AGE = 0`` it lives until the end of the current request (``request_finished``), or is
    closed right after use outside requests (so it never keeps a test database from being dropped);
    with persistent connections it is closed when unusable or obsolete at request start/end, like
    Django's own. On PostgreSQL it sets ``lock_timeout`` so that an admission can never wait
    forever on a row its own thread's transaction holds.

    Where it cannot hold, the admission runs inside the caller's transaction instead (logged once,
    and ``op_store.W001``/``W002``/``W003`` warn): SQLite with a private ``:memory:`` database (a second
    connection would open another, empty database), SQLite with ``transaction_mode`` IMMEDIATE or
    EXCLUSIVE (the request transaction holds the write lock from BEGIN, so a second connection would
    wait for it), and an SQLite file not in WAL mode (readers block the committing writer). SQLite's
    single writer still makes duplicates wait rather than run twice; they just cannot see
    ``in_flight``. On SQLite ``release``/``remove`` always use the caller's connection: after the
    handler wrote, the sibling could not get the write lock.

    Inside ``django.test.TestCase`` (whose outermost atomic block never commits) the store behaves as
    if that block were not there, like Django's ``durable`` check: admissions run in the test
    transaction and roll back with the test (a committed admission on another connection would leak
    into the next test). A caller's ``atomic()`` inside the test still counts for the seal. Use
    ``TransactionTestCase`` / ``django_db(transaction=True)`` to observe cross-connection visibility.

    Caveat: the sibling is a second connection. A transaction that already updated an operation's
    row and then admits or takes over the same id again waits on itself (ended by
    ``lock_timeout`` on PostgreSQL, the busy timeout on SQLite); the request lifecycle never does
    that.

Transactional seal
    ``seal``/``seal_owned`` run on the alias's own connection inside
    ``transaction.atomic(using=alias, savepoint=False)`` when there are schemas to write, so they
    join the caller's transaction: the handler's writes and its sealed reply commit together or not
    at all. When ownership is lost inside a caller's transaction the transaction is marked for
    rollback as well (``OwnershipLostError`` also propagates): the handler's writes must not commit
    when another owner is running the operation.

Schema cache
    A per-process set of schema hashes known to be stored, keyed by (alias, engine, host, port,
    database name), filled only from ``transaction.on_commit`` callbacks (a rolled-back insert never
    enters it; callbacks run by ``captureOnCommitCallbacks`` inside a test transaction are ignored),
    and cleared on ``post_migrate`` (migrate and flush), on ``setting_changed`` for DATABASES, and
    when op_store deletes schemas. A seal of already-known schemas issues no schema statement. The
    cache is only a hint that is checked for free: the seal's UPDATE carries ``EXISTS`` guards for
    the known hashes it relied on, so if the table was emptied behind the cache's back (a flush
    without signals, a restored backup) the UPDATE matches nothing, the store notices, clears the
    cache and writes the schemas. A seal never skips a schema that is not in the table.
"""

from __future__ import annotations

import copy
import logging
import threading
import weakref
from collections.abc import Callable, Container, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from time import perf_counter
from typing import Any

from django.conf import settings
from django.core.signals import request_finished, request_started, setting_changed
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate
from django.db.utils import load_backend
from django.utils import timezone

from op_store.conf import op_store_settings
from op_store.models import SCOPE_MAX_LENGTH, Operation, Schema
from op_store.signals import (
    operation_admitted,
    operation_removed,
    operation_sealed,
    operations_purged,
)
from op_store.vox.ids import u64_to_i64
from op_store.vox.schema import Schema as VoxSchema
from op_store.vox.schema import SchemaSource, TypeRef

from .base import (
    DEFAULT_LEASE,
    Admission,
    AdmissionOutcome,
    LeasedOperationStore,
    OperationState,
    OwnershipLostError,
    SealedResponse,
)
from .common import (
    PurgeResult,
    check_lease,
    check_operation_id,
    check_registry,
    check_root_type,
    check_status_code,
    check_text,
    coerce_response,
    fingerprint_digest,
    fingerprints_conflict,
    new_token,
    seal_closure,
)

__all__ = [
    "ADMISSION_ALIAS_SUFFIX",
    "DatabaseSchemaSource",
    "DjangoOperationStore",
    "SchemaCache",
    "admission_isolation",
    "close_admission_connections",
    "purge",
    "release_stale",
    "schema_cache",
    "stats",
    "store_alias",
]

logger = logging.getLogger("op_store")

ADMISSION_ALIAS_SUFFIX = "__op_store_admit"
#: PostgreSQL ``lock_timeout`` of the sibling connection (a wait on one's own transaction ends).
ADMISSION_LOCK_TIMEOUT = "10s"

_ADMITTED = Operation.State.ADMITTED.value
_SEALED = Operation.State.SEALED.value
_EXPIRED = Operation.State.EXPIRED.value


def store_alias(using: str | None = None) -> str:
    """The database alias of the operation store (see the module docstring)."""
    if using:
        return using
    configured = op_store_settings.DATABASE
    if configured:
        return str(configured)
    return router.db_for_write(Operation) or DEFAULT_DB_ALIAS


# --- transactions -------------------------------------------------------------------------------


def _in_caller_transaction(conn: BaseDatabaseWrapper) -> bool:
    """Whether ``conn`` is inside a transaction the caller opened (``TestCase``'s own blocks aside)."""
    if conn.in_atomic_block:
        return any(not getattr(block, "_from_testcase", False) for block in conn.atomic_blocks)
    return not conn.get_autocommit()


def _inside_testcase(conn: BaseDatabaseWrapper) -> bool:
    """Whether the outermost transaction is a ``TestCase``'s (it never commits)."""
    blocks = conn.atomic_blocks
    return bool(conn.in_atomic_block and blocks and getattr(blocks[0], "_from_testcase", False))


def _write_block(conn: BaseDatabaseWrapper, caller_txn: bool) -> Any:
    """The atomic block a multi-statement write runs in: join the caller's, else our own."""
    if caller_txn:
        return transaction.atomic(using=conn.alias, savepoint=False)
    # Outside any transaction this is BEGIN/COMMIT; inside TestCase's block, a savepoint that
    # behaves like our own transaction would in production.
    return transaction.atomic(using=conn.alias, savepoint=conn.in_atomic_block)


# --- the sibling connection ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Isolation:
    possible: bool
    reason: str = ""


_isolation_lock = threading.Lock()
_isolation_cache: dict[tuple[str, ...], _Isolation] = {}
_warned: set[tuple[str, ...]] = set()
_siblings = threading.local()


def _db_key(conn: BaseDatabaseWrapper) -> tuple[str, ...]:
    sd = conn.settings_dict
    return (conn.alias, str(sd.get("ENGINE")), str(sd.get("HOST") or ""), str(sd.get("PORT") or ""), str(sd["NAME"]))


def _static_isolation(conn: BaseDatabaseWrapper) -> _Isolation | None:
    """What the settings alone say about isolating admissions on ``conn``'s database."""
    if conn.vendor != "sqlite":
        return _Isolation(True)
    name = str(conn.settings_dict["NAME"] or ":memory:")
    if name == ":memory:" or ("mode=memory" in name and "cache=shared" not in name):
        return _Isolation(False, "SQLite private in-memory database: another connection would not see it")
    mode = str(conn.settings_dict.get("OPTIONS", {}).get("transaction_mode") or "").upper()
    if mode in ("IMMEDIATE", "EXCLUSIVE"):
        return _Isolation(False, f"SQLite transaction_mode {mode}: the caller's transaction holds the write lock")
    if "mode=memory" in name:
        return _Isolation(True)  # shared-cache in-memory (test databases)
    return None  # a file: depends on the journal mode


def admission_isolation(using: str | None = None) -> _Isolation:
    """Whether admissions on this alias can commit apart from the caller's transaction, and why not."""
    return _isolation_of(connections[store_alias(using)])


def _isolation_of(conn: BaseDatabaseWrapper) -> _Isolation:
    key = _db_key(conn)
    found = _isolation_cache.get(key)
    if found is not None:
        return found
    found = _static_isolation(conn)
    if found is None:
        sibling = _sibling(conn)
        try:
            with sibling.cursor() as cursor:
                cursor.execute("PRAGMA journal_mode")
                row = cursor.fetchone()
            journal = str(row[0] if row else "").lower()
        finally:
            _after_sibling_use(sibling)
        found = (
            _Isolation(True)
            if journal == "wal"
            else _Isolation(False, f"SQLite journal_mode {journal or '?'} (not WAL): readers block the writer")
        )
    with _isolation_lock:
        _isolation_cache[key] = found
    return found


def _sibling(conn: BaseDatabaseWrapper) -> BaseDatabaseWrapper:
    """This thread's private connection to ``conn``'s database (created lazily)."""
    siblings: dict[str, BaseDatabaseWrapper] = _siblings.__dict__.setdefault("by_alias", {})
    sibling = siblings.get(conn.alias)
    if sibling is not None and _db_key(sibling)[1:] != _db_key(conn)[1:]:
        sibling.close()  # the alias now points elsewhere (a test database, override_settings)
        sibling = None
    if sibling is None:
        settings_dict = copy.deepcopy(conn.settings_dict)
        backend = load_backend(settings_dict["ENGINE"])
        sibling = backend.DatabaseWrapper(settings_dict, f"{conn.alias}{ADMISSION_ALIAS_SUFFIX}")
        siblings[conn.alias] = sibling
    return sibling


def _after_sibling_use(sibling: BaseDatabaseWrapper) -> None:
    """With ``CONN_MAX_AGE = 0``, close the sibling unless a request is running on this thread (then
    it is closed at ``request_finished``, like Django's own connections): one connection per request
    at most, and none left open outside requests (a test database can then always be dropped)."""
    if sibling.settings_dict.get("CONN_MAX_AGE") == 0 and not getattr(_siblings, "in_request", False):
        sibling.close()


def close_admission_connections() -> None:
    """Close this thread's sibling connections (threads that admitted should call it at exit)."""
    siblings: dict[str, BaseDatabaseWrapper] = _siblings.__dict__.get("by_alias", {})
    for sibling in siblings.values():
        sibling.close()
    siblings.clear()


def _admission_connection(alias: str) -> BaseDatabaseWrapper:
    """The connection an admission runs on: the alias's own, or its sibling (see module docstring)."""
    conn = connections[alias]
    if _inside_testcase(conn) or not _in_caller_transaction(conn):
        # In a TestCase everything must roll back with the test: a committed admission on another
        # connection would leak into the next test (and could not see the test's rows).
        return conn
    isolation = admission_isolation(alias)
    if isolation.possible:
        return _sibling(conn)
    key = _db_key(conn)
    if key not in _warned:
        _warned.add(key)
        logger.warning(
            "op_store: admissions on database %r run inside the caller's transaction (%s); concurrent "
            "duplicates wait for it instead of seeing the operation in flight",
            alias,
            isolation.reason,
        )
    return conn


def _on_connection_created(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    if connection.alias.endswith(ADMISSION_ALIAS_SUFFIX) and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = '{ADMISSION_LOCK_TIMEOUT}'")


def _close_obsolete_siblings() -> None:
    siblings: dict[str, BaseDatabaseWrapper] = _siblings.__dict__.get("by_alias", {})
    for sibling in siblings.values():
        sibling.close_if_unusable_or_obsolete()


def _request_started(**kwargs: Any) -> None:
    _close_obsolete_siblings()
    _siblings.in_request = True


def _request_finished(**kwargs: Any) -> None:
    _siblings.in_request = False
    _close_obsolete_siblings()


connection_created.connect(_on_connection_created, dispatch_uid="op_store.sibling_lock_timeout")
request_started.connect(_request_started, dispatch_uid="op_store.close_siblings_start")
request_finished.connect(_request_finished, dispatch_uid="op_store.close_siblings_finish")


# --- the schema cache ---------------------------------------------------------------------------


class SchemaCache:
    """Schema hashes known to be stored, per database (a hint; see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[tuple[str, ...], frozenset[int]] = {}

    key = staticmethod(_db_key)

    def known(self, key: tuple[str, ...]) -> frozenset[int]:
        return self._known.get(key, frozenset())

    def add(self, key: tuple[str, ...], ids: Iterable[int]) -> None:
        with self._lock:  # copy-on-write: readers never see a set being resized
            self._known[key] = self._known.get(key, frozenset()) | frozenset(ids)

    def add_on_commit(self, conn: BaseDatabaseWrapper, ids: Iterable[int]) -> None:
        """Remember ``ids`` once the current transaction on ``conn`` commits (never on rollback)."""
        key, frozen = self.key(conn), frozenset(ids)

        def committed() -> None:
            # captureOnCommitCallbacks(execute=True) runs callbacks inside the test transaction,
            # which will roll back: nothing is known to be stored then.
            if not conn.in_atomic_block:
                self.add(key, frozen)

        transaction.on_commit(committed, using=conn.alias)

    def forget(self, key: tuple[str, ...]) -> None:
        with self._lock:
            self._known.pop(key, None)

    def clear(self, **kwargs: Any) -> None:
        with self._lock:
            self._known.clear()


schema_cache = SchemaCache()


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in ("DATABASES", "DATABASE_ROUTERS", "OP_STORE", "INSTALLED_APPS"):
        schema_cache.clear()
        with _isolation_lock:
            _isolation_cache.clear()
        close_admission_connections()


post_migrate.connect(schema_cache.clear, dispatch_uid="op_store.schema_cache_post_migrate")
setting_changed.connect(_on_setting_changed, dispatch_uid="op_store.schema_cache_settings")


# --- SQL ----------------------------------------------------------------------------------------

_ROW = ("state", "token", "fingerprint", "lease_expires_at", "transactional", "response", "root_type", "status_code")
_INSERT = (
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
_SEAL = ("state", "response", "root_type", "response_size", "status_code", "sealed_at", "expires_at")
_INSERT_SEALED = tuple(n for n in _INSERT if n != "state") + _SEAL
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


class _Sql:
    """The statements on one connection's backend, with parameter adaptation and row conversion."""

    def __init__(self, conn: BaseDatabaseWrapper) -> None:
        qn = conn.ops.quote_name
        meta = Operation._meta
        self.conn = weakref.proxy(conn)
        self.vendor = conn.vendor
        self.fields = {f.name: f for f in meta.concrete_fields}
        col = {name: qn(str(f.column)) for name, f in self.fields.items()}
        t = qn(meta.db_table)
        st = qn(Schema._meta.db_table)
        self.schema_pk = f"{st}.{qn(str(Schema._meta.get_field('id').column))}"
        self.schema_table = st
        where = f"{col['scope']} = %s AND {col['operation_id']} = %s"
        self.where = where
        self.col = col
        self.table = t
        row = ", ".join(col[n] for n in _ROW)
        cols = ", ".join(col[n] for n in _INSERT)
        marks = ", ".join(["%s"] * len(_INSERT))
        conflict = f"({col['scope']}, {col['operation_id']})"
        self.select_row = f"SELECT {row} FROM {t} WHERE {where}"
        self.select_state = f"SELECT {col['state']} FROM {t} WHERE {where}"
        self.select_sealed = (
            f"SELECT {col['state']}, {col['response']}, {col['root_type']}, {col['status_code']} FROM {t} WHERE {where}"
        )
        self.insert = f"INSERT INTO {t} ({cols}) VALUES ({marks})"
        if self.vendor == "postgresql":
            self.admit = (
                f"WITH ins AS ({self.insert} ON CONFLICT {conflict} DO NOTHING RETURNING {row}) "
                f"SELECT TRUE, {row} FROM ins UNION ALL SELECT FALSE, {row} FROM {t} WHERE {where}"
            )
        elif self.vendor == "sqlite":
            self.admit = f"{self.insert} ON CONFLICT {conflict} DO NOTHING RETURNING {row}"
        else:
            self.admit = ""
        sealed_cols = ", ".join(col[n] for n in _INSERT_SEALED)
        sealed_marks = ", ".join(["%s"] * len(_INSERT_SEALED))
        self.insert_sealed = f"INSERT INTO {t} ({sealed_cols}) VALUES ({sealed_marks})"
        self.insert_sealed_ignore = (
            f"{self.insert_sealed} ON CONFLICT {conflict} DO NOTHING" if self.vendor in ("postgresql", "sqlite") else ""
        )
        self.take_over = (
            f"UPDATE {t} SET {col['token']} = %s, {col['lease_expires_at']} = %s, {col['transactional']} = %s "
            f"WHERE {where} AND {col['state']} = %s AND {col['token']} = %s AND {col['lease_expires_at']} < %s"
        )
        sets = ", ".join(f"{col[n]} = %s" for n in _SEAL)
        self.seal_owned = f"UPDATE {t} SET {sets} WHERE {where} AND {col['state']} = %s AND {col['token']} = %s"
        self.seal_admitted = f"UPDATE {t} SET {sets} WHERE {where} AND {col['state']} = %s"
        self.exists_schema = f"EXISTS (SELECT 1 FROM {st} WHERE {self.schema_pk} = %s)"
        self.delete_owned = f"DELETE FROM {t} WHERE {where} AND {col['state']} = %s AND {col['token']} = %s"
        self.delete_admitted = f"DELETE FROM {t} WHERE {where} AND {col['state']} = %s"
        if self.vendor == "postgresql":  # never wait on a row another transaction holds
            pk = col["id"]
            self.delete_owned_nowait = (
                f"DELETE FROM {t} WHERE {pk} IN (SELECT {pk} FROM {t} WHERE {where} AND {col['state']} = %s "
                f"AND {col['token']} = %s FOR UPDATE SKIP LOCKED)"
            )
            self.delete_admitted_nowait = (
                f"DELETE FROM {t} WHERE {pk} IN (SELECT {pk} FROM {t} WHERE {where} AND {col['state']} = %s "
                f"FOR UPDATE SKIP LOCKED)"
            )
        else:
            self.delete_owned_nowait = self.delete_owned
            self.delete_admitted_nowait = self.delete_admitted
        self._converters = {name: self._field_converters(conn, name) for name in self.fields}
        self._root_params: dict[TypeRef, Any] = {}

    def _field_converters(self, conn: BaseDatabaseWrapper, name: str) -> tuple[Any, list[Any]]:
        col = self.fields[name].get_col(Operation._meta.db_table)
        return col, [*conn.ops.get_db_converters(col), *col.get_db_converters(conn)]

    def prep(self, name: str, value: Any) -> Any:
        """``value`` adapted for this backend by the model field (plain text and ints pass as they are).

        An aware datetime (what the store's clock gives) goes straight to the backend's adapter, as
        ``DateTimeField.get_db_prep_value`` would send it after checks that only naive values need.
        """
        if value is None or (name not in _ADAPTED and type(value) in (str, int, bool)):
            return value
        if name in _DATETIMES and type(value) is datetime and value.tzinfo is not None and settings.USE_TZ:
            return self.conn.ops.adapt_datetimefield_value(value)
        return self.fields[name].get_db_prep_value(value, connection=self.conn, prepared=False)

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

    def key(self, scope: str, operation_id: int) -> list[Any]:
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

    def row(self, values: Sequence[Any]) -> _Row:
        """A stored row, converting only what its state needs (a replay reads no lease)."""
        state = OperationState(values[0])
        fingerprint = values[2]
        response = values[5]
        if state is OperationState.SEALED:
            lease_expires_at, transactional = None, False
        else:
            lease_expires_at = self.convert("lease_expires_at", values[3])
            transactional = bool(self.convert("transactional", values[4]))
        return _Row(
            state,
            int(values[1]),
            None if fingerprint is None else bytes(fingerprint),
            lease_expires_at,
            transactional,
            None if response is None else bytes(response),
            self.root_type(values[6]) if state is OperationState.SEALED else None,
            values[7],
        )


#: Stored root types (JSON text) -> TypeRef, see :meth:`_Sql.root_type`; bounded, cleared when full.
_ROOT_TYPES: dict[str, TypeRef] = {}
_ROOT_TYPES_MAX = 1024


@dataclass(frozen=True, slots=True)
class _Row:
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
        if fingerprints_conflict(self.fingerprint, digest):
            return Admission(AdmissionOutcome.CONFLICT)
        if self.state is OperationState.SEALED:
            return Admission(AdmissionOutcome.SEALED, sealed=self.sealed())
        if self.state is OperationState.EXPIRED:
            return Admission(AdmissionOutcome.EXPIRED)
        live = self.lease_expires_at is not None and self.lease_expires_at > now
        return Admission(
            AdmissionOutcome.IN_FLIGHT if live else AdmissionOutcome.STALE,
            self.token,
            lease_expires_at=self.lease_expires_at,
            transactional=self.transactional,
        )


_sql_cache: weakref.WeakKeyDictionary[BaseDatabaseWrapper, _Sql] = weakref.WeakKeyDictionary()


def _sql(conn: BaseDatabaseWrapper) -> _Sql:
    try:
        return _sql_cache[conn]
    except KeyError:
        sql = _sql_cache[conn] = _Sql(conn)
        return sql


class _KnownTracker:
    """``known`` for :func:`seal_closure` that records which known hashes the walk relied on."""

    __slots__ = ("hits", "known")

    def __init__(self, known: Container[int]) -> None:
        self.known = known
        self.hits: set[int] = set()

    def __contains__(self, schema_id: object) -> bool:
        if schema_id in self.known:
            self.hits.add(schema_id)  # type: ignore[arg-type]
            return True
        return False


# --- the store ------------------------------------------------------------------------------------


class DjangoOperationStore(LeasedOperationStore):
    """The OperationStore contract on the ORM, bound to one scope (DESIGN §4 correction 3).

    ``scope`` separates clients: operation ids are only unique per client session, so the same id
    in two scopes is two operations. ``clock`` (default ``django.utils.timezone.now``) lets tests
    travel in time; leases and retention are computed from it, not from the database server.
    """

    def __init__(
        self,
        scope: str = "",
        using: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.scope = check_text(scope, "scope", SCOPE_MAX_LENGTH)
        if using is not None and not isinstance(using, str):
            raise TypeError(f"using must be a database alias or None, got {using!r}")
        self.using = using
        self._clock = clock or timezone.now

    def __repr__(self) -> str:
        return f"<DjangoOperationStore scope={self.scope!r} using={self.using!r}>"

    @property
    def alias(self) -> str:
        return store_alias(self.using)

    def now(self) -> datetime:
        return self._clock()

    def _key(self, sql: _Sql, operation_id: int) -> list[Any]:
        return sql.key(self.scope, operation_id)

    # --- the six contract methods ------------------------------------------------------------

    def admit(self, operation_id: int) -> None:
        self._admit(check_operation_id(operation_id), None, op_store_settings.LEASE, "", "", False)

    def lookup(self, operation_id: int) -> OperationState:
        operation_id = check_operation_id(operation_id)
        conn = connections[self.alias]
        sql = _sql(conn)
        with conn.cursor() as cursor:
            cursor.execute(sql.select_state, self._key(sql, operation_id))
            row = cursor.fetchone()
        return OperationState.UNKNOWN if row is None else OperationState(row[0])

    def get_sealed(self, operation_id: int) -> SealedResponse | None:
        operation_id = check_operation_id(operation_id)
        conn = connections[self.alias]
        sql = _sql(conn)
        with conn.cursor() as cursor:
            cursor.execute(sql.select_sealed, self._key(sql, operation_id))
            row = cursor.fetchone()
        if row is None or row[0] != _SEALED:
            return None
        root = sql.root_type(row[2])
        assert root is not None
        return SealedResponse(bytes(row[1]), root, row[3])

    def seal(self, operation_id: int, response: bytes, root_type: TypeRef, registry: SchemaSource) -> None:
        self._seal(operation_id, None, response, root_type, registry, None)

    def remove(self, operation_id: int) -> None:
        self._delete(check_operation_id(operation_id), None, "remove")

    def schema_source(self) -> DatabaseSchemaSource:
        return DatabaseSchemaSource(self.using)

    # --- leased, fenced admission -------------------------------------------------------------

    def try_admit(
        self,
        operation_id: int,
        *,
        fingerprint: bytes | None = None,
        lease: timedelta = DEFAULT_LEASE,
        method: str = "",
        key: str = "",
        transactional: bool = False,
    ) -> Admission:
        return self._admit(
            check_operation_id(operation_id),
            fingerprint_digest(fingerprint),
            check_lease(lease),
            check_text(method, "method", 255),
            check_text(key, "key", 255),
            bool(transactional),
        )

    def _admit(
        self, operation_id: int, digest: bytes | None, lease: timedelta, method: str, key: str, transactional: bool
    ) -> Admission:
        alias = self.alias
        conn = _admission_connection(alias)
        sql = _sql(conn)
        now = self._clock()
        token = new_token()
        lease_expires_at = now + lease
        values = {
            "scope": self.scope,
            "operation_id": operation_id,
            "state": _ADMITTED,
            "method": method,
            "key": key,
            "fingerprint": digest,
            "token": token,
            "transactional": transactional,
            "created_at": now,
            "lease_expires_at": lease_expires_at,
        }

        def params() -> list[Any]:
            return [sql.prep(name, values[name]) for name in _INSERT]

        try:
            inserted, row = self._run_admission(conn, sql, params, operation_id)
        finally:
            if conn.alias != alias:
                _after_sibling_use(conn)
        if inserted:
            admission = Admission(
                AdmissionOutcome.ADMITTED, token, lease_expires_at=lease_expires_at, transactional=transactional
            )
            self._admitted(operation_id, admission, method, key, taken_over=False)
            return admission
        assert row is not None
        admission = row.classify(digest, now)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "op_store: %s scope=%r operation_id=%d",
                admission.outcome.value,
                self.scope,
                operation_id,
                extra={
                    "op_store": {"event": admission.outcome.value, "scope": self.scope, "operation_id": operation_id}
                },
            )
        return admission

    def _run_admission(
        self,
        conn: BaseDatabaseWrapper,
        sql: _Sql,
        insert_params: Callable[[], list[Any]],
        operation_id: int,
    ) -> tuple[bool, _Row | None]:
        key = self._key(sql, operation_id)
        params = insert_params() if sql.vendor != "sqlite" else []
        if sql.vendor == "postgresql":
            for _ in range(5):
                with conn.cursor() as cursor:
                    cursor.execute(sql.admit, params + key)
                    rows = cursor.fetchall()
                # Two rows only if the row we saw was deleted (committed) before our insert: ours wins.
                found = next((r for r in rows if r[0]), rows[0] if rows else None)
                if found is not None:
                    return bool(found[0]), sql.row(found[1:])
                # A concurrent insert committed after our snapshot: our insert conflicted and our
                # SELECT could not see it yet. A new statement has a new snapshot.
            raise RuntimeError(f"op_store: could not admit or read operation {operation_id} (scope {self.scope!r})")
        if sql.vendor == "sqlite":
            # Read first: on SQLite any INSERT attempt, even one that conflicts and inserts nothing,
            # takes the write lock and (AUTOINCREMENT) rewrites sqlite_sequence, i.e. a commit with
            # an fsync. A replay must stay a plain read.
            for _ in range(5):
                with conn.cursor() as cursor:
                    cursor.execute(sql.select_row, key)
                    found = cursor.fetchone()
                    if found is not None:
                        return False, sql.row(found)
                    cursor.execute(sql.admit, params or insert_params())
                    found = cursor.fetchone()
                if found is not None:
                    return True, sql.row(found)
            raise RuntimeError(f"op_store: could not admit or read operation {operation_id} (scope {self.scope!r})")
        # Portable fallback: INSERT, and on a unique violation read the row.
        for _ in range(5):
            try:
                block = transaction.atomic(using=conn.alias) if conn.in_atomic_block else nullcontext()
                with block, conn.cursor() as cursor:
                    cursor.execute(sql.insert, params)
                return True, None
            except IntegrityError:
                pass
            with conn.cursor() as cursor:
                cursor.execute(sql.select_row, key)
                found = cursor.fetchone()
            if found is not None:
                return False, sql.row(found)
        raise RuntimeError(f"op_store: could not admit or read operation {operation_id} (scope {self.scope!r})")

    def _admitted(self, operation_id: int, admission: Admission, method: str, key: str, *, taken_over: bool) -> None:
        operation_admitted.send(
            sender=type(self),
            store=self,
            scope=self.scope,
            operation_id=operation_id,
            token=admission.token,
            method=method,
            key=key,
            lease_expires_at=admission.lease_expires_at,
            transactional=admission.transactional,
            taken_over=taken_over,
        )
        if logger.isEnabledFor(logging.DEBUG):
            event = "taken_over" if taken_over else "admitted"
            logger.debug(
                "op_store: %s scope=%r operation_id=%d",
                event,
                self.scope,
                operation_id,
                extra={"op_store": {"event": event, "scope": self.scope, "operation_id": operation_id}},
            )

    def take_over(
        self,
        operation_id: int,
        stale_token: int,
        *,
        lease: timedelta = DEFAULT_LEASE,
        transactional: bool = False,
        fingerprint: bytes | None = None,
    ) -> Admission:
        """Compare-and-set a stale admission to a new owner (see the base class).

        If the operation vanished meanwhile (released), it is admitted afresh with ``fingerprint``.
        """
        operation_id = check_operation_id(operation_id)
        lease = check_lease(lease)
        digest = fingerprint_digest(fingerprint)
        if isinstance(stale_token, bool) or not isinstance(stale_token, int):
            raise TypeError(f"stale_token must be an int, got {type(stale_token).__name__}")
        alias = self.alias
        conn = _admission_connection(alias)
        sql = _sql(conn)
        now = self._clock()
        token = new_token()
        lease_expires_at = now + lease
        key = self._key(sql, operation_id)
        try:
            with conn.cursor() as cursor:
                cursor.execute(
                    sql.take_over,
                    [
                        token,
                        sql.prep("lease_expires_at", lease_expires_at),
                        sql.prep("transactional", bool(transactional)),
                        *key,
                        _ADMITTED,
                        stale_token,
                        sql.prep("lease_expires_at", now),
                    ],
                )
                won = cursor.rowcount == 1
                if not won:
                    cursor.execute(sql.select_row, key)
                    found = cursor.fetchone()
        finally:
            if conn.alias != alias:
                _after_sibling_use(conn)
        if won:
            admission = Admission(
                AdmissionOutcome.ADMITTED, token, lease_expires_at=lease_expires_at, transactional=bool(transactional)
            )
            self._admitted(operation_id, admission, "", "", taken_over=True)
            return admission
        if found is None:
            return self._admit(operation_id, digest, lease, "", "", bool(transactional))
        return sql.row(found).classify(digest, now)

    def seal_owned(
        self,
        operation_id: int,
        token: int,
        response: bytes,
        root_type: TypeRef,
        registry: SchemaSource,
        *,
        status_code: int | None = None,
    ) -> None:
        if isinstance(token, bool) or not isinstance(token, int):
            raise TypeError(f"token must be an int, got {type(token).__name__}")
        self._seal(operation_id, token, response, root_type, registry, status_code)

    def release(self, operation_id: int, token: int) -> bool:
        if isinstance(token, bool) or not isinstance(token, int):
            raise TypeError(f"token must be an int, got {type(token).__name__}")
        return self._delete(check_operation_id(operation_id), token, "release")

    def _delete(self, operation_id: int, token: int | None, reason: str) -> bool:
        alias = self.alias
        conn = connections[alias]
        if conn.vendor != "sqlite":
            conn = _admission_connection(alias)
        sibling = conn.alias != alias
        sql = _sql(conn)
        params = [*self._key(sql, operation_id), _ADMITTED]
        if token is None:
            statement = sql.delete_admitted_nowait if sibling else sql.delete_admitted
        else:
            statement = sql.delete_owned_nowait if sibling else sql.delete_owned
            params.append(token)
        try:
            with conn.cursor() as cursor:
                cursor.execute(statement, params)
                removed = cursor.rowcount > 0
        finally:
            if sibling:
                _after_sibling_use(conn)
        if removed:
            operation_removed.send(
                sender=type(self), store=self, scope=self.scope, operation_id=operation_id, reason=reason
            )
            logger.debug(
                "op_store: removed scope=%r operation_id=%d (%s)",
                self.scope,
                operation_id,
                reason,
                extra={"op_store": {"event": "removed", "scope": self.scope, "operation_id": operation_id}},
            )
        return removed

    # --- maintenance ----------------------------------------------------------------------------

    def purge(
        self,
        now: datetime | None = None,
        *,
        batch_size: int | None = None,
        progress: Callable[[str, int, int | None], None] | None = None,
        dry_run: bool = False,
    ) -> PurgeResult:
        """:func:`purge` on this store's database (across every scope), with this store's clock."""
        return purge(
            now=now or self._clock(), using=self.using, batch_size=batch_size, progress=progress, dry_run=dry_run
        )

    def release_stale(self, now: datetime | None = None, *, dry_run: bool = False) -> int:
        """:func:`release_stale` for this store's scope."""
        return release_stale(now=now or self._clock(), using=self.using, scope=self.scope, dry_run=dry_run)

    def stats(self, now: datetime | None = None) -> dict[str, Any]:
        """:func:`stats` of this store's database (all scopes)."""
        return stats(using=self.using, now=now or self._clock())

    # --- sealing ------------------------------------------------------------------------------

    def _seal(
        self,
        operation_id: int,
        token: int | None,
        response: bytes,
        root_type: TypeRef,
        registry: SchemaSource,
        status_code: int | None,
    ) -> None:
        operation_id = check_operation_id(operation_id)
        data = coerce_response(response)
        root = check_root_type(root_type)
        registry = check_registry(registry)
        status_code = check_status_code(status_code)
        conn = connections[self.alias]
        sql = _sql(conn)
        now = self._clock()
        key = self._key(sql, operation_id)
        cache_key = schema_cache.key(conn)
        sealed = {
            "state": _SEALED,
            "response": data,
            "root_type": root,  # adapted by prep_root_type
            "response_size": len(data),
            "status_code": status_code,
            "sealed_at": now,
            "expires_at": now + op_store_settings.RETENTION,
        }
        seal_params = [
            sql.prep_root_type(root) if name == "root_type" else sql.prep(name, sealed[name]) for name in _SEAL
        ]
        caller_txn = _in_caller_transaction(conn)
        trust_cache = True
        found_stored: set[int] = set()

        def stored(schema_id: int) -> bool:
            # The registry lacks it, but the table may have it (stored with its closure).
            if Schema.objects.using(conn.alias).filter(pk=schema_id).exists():
                found_stored.add(schema_id)
                return True
            return False

        for _ in range(10):
            tracker = _KnownTracker(schema_cache.known(cache_key) if trust_cache else frozenset())
            new_schemas = seal_closure(root, registry, tracker, stored)  # MissingSchemaError: nothing written
            outcome = self._seal_once(
                conn, sql, caller_txn, operation_id, token, key, seal_params, sorted(tracker.hits), new_schemas, now
            )
            if outcome == "sealed":
                learned = {s.id for s in new_schemas} | found_stored
                if learned:
                    schema_cache.add_on_commit(conn, learned)
                self._sealed(operation_id, len(data), status_code, len(new_schemas))
                return
            if outcome == "absorbed":
                return  # correction 1: already sealed (or a tombstone); the first reply stays
            if outcome == "schemas":
                schema_cache.forget(cache_key)
                trust_cache = False
            # "schemas" or "retry" (a concurrent change): again; nothing was written
        raise RuntimeError(f"op_store: could not seal operation {operation_id} (scope {self.scope!r}): too many races")

    def _seal_once(
        self,
        conn: BaseDatabaseWrapper,
        sql: _Sql,
        caller_txn: bool,
        operation_id: int,
        token: int | None,
        key: list[Any],
        seal_params: list[Any],
        guards: list[int],
        new_schemas: list[VoxSchema],
        now: datetime,
    ) -> str:
        """One attempt: the conditional UPDATE (+ schemas). ``sealed``, ``absorbed``, ``schemas``,
        ``retry``; raises OwnershipLostError (nothing written)."""
        guard_sql = "".join(f" AND {sql.exists_schema}" for _ in guards)
        guard_params = [u64_to_i64(g) for g in guards]
        found: tuple[Any, ...] | None = None
        with _write_block(conn, caller_txn) if new_schemas else nullcontext():
            with conn.cursor() as cursor:
                if token is not None:
                    cursor.execute(sql.seal_owned + guard_sql, [*seal_params, *key, _ADMITTED, token, *guard_params])
                else:
                    cursor.execute(sql.seal_admitted + guard_sql, [*seal_params, *key, _ADMITTED, *guard_params])
                if cursor.rowcount == 1:
                    outcome = "sealed"
                else:
                    outcome, found = self._why_not_sealed(cursor, sql, key, token, guards)
                    if outcome == "insert":  # a seal without admission (plain seal only)
                        outcome = (
                            "sealed"
                            if self._insert_sealed(conn, cursor, sql, operation_id, seal_params, now)
                            else "retry"
                        )
            if outcome == "sealed" and new_schemas:
                Schema.objects.using(conn.alias).bulk_create(
                    [Schema.from_vox(s) for s in new_schemas], ignore_conflicts=True
                )
            if outcome == "lost":
                if caller_txn and conn.in_atomic_block:
                    # The handler's writes in this transaction must not commit without the seal.
                    transaction.set_rollback(True, using=conn.alias)
                message = self._lost_message(operation_id, token, found)
                logger.warning(message, extra={"op_store": {"event": "ownership_lost", "operation_id": operation_id}})
                raise OwnershipLostError(message)
        return outcome

    def _insert_sealed(
        self,
        conn: BaseDatabaseWrapper,
        cursor: Any,
        sql: _Sql,
        operation_id: int,
        seal_params: list[Any],
        now: datetime,
    ) -> bool:
        values = {
            "scope": self.scope,
            "operation_id": operation_id,
            "method": "",
            "key": "",
            "fingerprint": None,
            "token": new_token(),
            "transactional": False,
            "created_at": now,
            "lease_expires_at": None,
        }
        params = [sql.prep(name, values[name]) for name in _INSERT_SEALED[: len(values)]] + seal_params
        if sql.insert_sealed_ignore:
            cursor.execute(sql.insert_sealed_ignore, params)
            return bool(cursor.rowcount == 1)
        try:
            with transaction.atomic(using=conn.alias):
                cursor.execute(sql.insert_sealed, params)
        except IntegrityError:
            return False
        return True

    def _why_not_sealed(
        self, cursor: Any, sql: _Sql, key: list[Any], token: int | None, guards: list[int]
    ) -> tuple[str, tuple[Any, ...] | None]:
        """After a seal UPDATE matched nothing, say why: ``schemas`` (the cache was stale), ``lost``,
        ``absorbed`` (already sealed or a tombstone), ``insert`` (no row) or ``retry`` (a race)."""
        if guards:
            marks = ", ".join(["%s"] * len(guards))
            cursor.execute(
                f"SELECT COUNT(*) FROM {sql.schema_table} WHERE {sql.schema_pk} IN ({marks})",
                [u64_to_i64(g) for g in guards],
            )
            if cursor.fetchone()[0] != len(guards):
                logger.info("op_store: the schema cache was stale for %r; writing the schemas again", sql.conn.alias)
                return "schemas", None
        cursor.execute(f"SELECT {sql.col['state']}, {sql.col['token']} FROM {sql.table} WHERE {sql.where}", key)
        found = cursor.fetchone()
        if token is not None:
            if found is not None and found[0] == _ADMITTED and int(found[1]) == token:
                return "retry", found
            return "lost", found
        if found is None:
            return "insert", None
        return ("retry" if found[0] == _ADMITTED else "absorbed"), found

    def _lost_message(self, operation_id: int, token: int | None, found: tuple[Any, ...] | None) -> str:
        if found is None:
            why = "it is not admitted (released, removed, or never admitted)"
        elif found[0] != _ADMITTED:
            why = f"it is already {found[0]}"
        else:
            why = "another owner took it over after its lease expired"
        return (
            f"cannot seal operation {operation_id} (scope {self.scope!r}) with owner token {token}: {why}; "
            "nothing was written"
        )

    def _sealed(self, operation_id: int, size: int, status_code: int | None, schemas_written: int) -> None:
        operation_sealed.send(
            sender=type(self),
            store=self,
            scope=self.scope,
            operation_id=operation_id,
            response_size=size,
            status_code=status_code,
            schemas_written=schemas_written,
        )
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "op_store: sealed scope=%r operation_id=%d (%d bytes, %d new schemas)",
                self.scope,
                operation_id,
                size,
                schemas_written,
                extra={
                    "op_store": {
                        "event": "sealed",
                        "scope": self.scope,
                        "operation_id": operation_id,
                        "response_size": size,
                        "schemas_written": schemas_written,
                    }
                },
            )


# --- schemas as stored ------------------------------------------------------------------------


class DatabaseSchemaSource:
    """``SchemaSource`` over the Schema table; schemas are immutable, so found ones are memoised."""

    def __init__(self, using: str | None = None) -> None:
        self.using = using
        self._found: dict[int, VoxSchema] = {}

    def __repr__(self) -> str:
        return f"<DatabaseSchemaSource using={self.using!r}>"

    def get_schema(self, schema_id: int, /) -> VoxSchema | None:
        found = self._found.get(schema_id)
        if found is None:
            row = (
                Schema.objects.using(store_alias(self.using))
                .filter(pk=schema_id)
                .values_list("definition", flat=True)
                .first()
            )
            if row is None:
                return None
            found = self._found[schema_id] = VoxSchema.from_json(row)
        return found

    def get_schemas(self, schema_ids: Iterable[int]) -> dict[int, VoxSchema]:
        """Many schemas in one query (missing ones are simply absent from the result)."""
        wanted = set(schema_ids)
        out = {i: self._found[i] for i in wanted if i in self._found}
        missing = wanted - set(out)
        if missing:
            rows = Schema.objects.using(store_alias(self.using)).filter(pk__in=missing).values_list("id", "definition")
            for schema_id, definition in rows:
                out[schema_id] = self._found[schema_id] = VoxSchema.from_json(definition)
        return out

    def closure(self, root: TypeRef) -> list[VoxSchema]:
        """The stored closure of ``root``, one query per level of depth."""
        seen: set[int] = set()
        frontier = set(root.collect_ids())
        out: list[VoxSchema] = []
        while frontier:
            found = self.get_schemas(frontier)
            seen |= frontier
            nxt: set[int] = set()
            for schema_id in sorted(frontier):
                schema = found.get(schema_id)
                if schema is not None:
                    out.append(schema)
                    nxt.update(schema.child_ids())
            frontier = nxt - seen
        return out


# --- maintenance: purge, release, stats -----------------------------------------------------------


def purge(
    *,
    now: datetime | None = None,
    using: str | None = None,
    batch_size: int | None = None,
    progress: Callable[[str, int, int | None], None] | None = None,
    dry_run: bool = False,
) -> PurgeResult:
    """Expire sealed replies past ``RETENTION`` into tombstones, delete tombstones past theirs.

    Works across scopes, in primary-key batches: each batch is one SELECT of at most ``batch_size``
    ids through the (state, expires_at) index and one UPDATE/DELETE by those ids, committed on its
    own (autocommit), so no lock is held longer than one batch. A tombstone (state expired,
    response and root type dropped, fingerprint kept) lives ``TOMBSTONE_RETENTION`` from the purge
    that made it. ``progress(phase, done, total)`` is called after every batch.
    """
    alias = store_alias(using)
    now = now or timezone.now()
    batch = batch_size or op_store_settings.PURGE_BATCH_SIZE
    if batch < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch}")
    tombstone_until = now + op_store_settings.TOMBSTONE_RETENTION
    operations = Operation.objects.using(alias)
    due_sealed = operations.expired(now)
    due_tombstones = operations.tombstones_due(now)
    started = perf_counter()
    if dry_run:
        result = PurgeResult(due_sealed.count(), due_tombstones.count(), 0, 0.0, perf_counter() - started, True)
        operations_purged.send(
            sender=DjangoOperationStore, using=alias, expired=result.expired, deleted=result.deleted, dry_run=True
        )
        return result

    longest = 0.0
    batches = 0
    counts = {"expire": 0, "delete": 0}

    def run(phase: str, due: Any, write: Callable[[Any], int]) -> None:
        nonlocal longest, batches
        total = due.count() if progress is not None else None
        while True:
            ids = list(due.order_by("expires_at").values_list("pk", flat=True)[:batch])
            if not ids:
                return
            t0 = perf_counter()
            counts[phase] += write(due.filter(pk__in=ids))
            longest = max(longest, perf_counter() - t0)
            batches += 1
            if progress is not None:
                progress(phase, counts[phase], total)

    run(
        "expire",
        due_sealed,
        lambda qs: qs.update(
            state=_EXPIRED, response=None, root_type=None, lease_expires_at=None, expires_at=tombstone_until
        ),
    )
    run("delete", due_tombstones, lambda qs: qs._raw_delete(alias))
    result = PurgeResult(counts["expire"], counts["delete"], batches, longest, perf_counter() - started)
    operations_purged.send(
        sender=DjangoOperationStore, using=alias, expired=result.expired, deleted=result.deleted, dry_run=False
    )
    logger.info(
        "op_store: purged %d expired replies and %d tombstones on %r in %d batches (%.3fs, longest %.3fs)",
        result.expired,
        result.deleted,
        alias,
        batches,
        result.duration,
        longest,
        extra={"op_store": {"event": "purged", "expired": result.expired, "deleted": result.deleted}},
    )
    return result


def release_stale(
    *,
    now: datetime | None = None,
    using: str | None = None,
    scope: str | None = None,
    batch_size: int | None = None,
    transactional_only: bool = False,
    dry_run: bool = False,
) -> int:
    """Delete admissions whose lease has expired (their owner is presumed gone), in batches.

    Releasing lets a retry run the operation again: safe for transactional admissions (their
    handler's writes never committed), an operator's decision for the others.
    """
    alias = store_alias(using)
    now = now or timezone.now()
    batch = batch_size or op_store_settings.PURGE_BATCH_SIZE
    stale = Operation.objects.using(alias).stale(now)
    if scope is not None:
        stale = stale.filter(scope=scope)
    if transactional_only:
        stale = stale.filter(transactional=True)
    if dry_run:
        return stale.count()
    released = 0
    while True:
        rows = list(stale.order_by("lease_expires_at").values_list("pk", "scope", "operation_id")[:batch])
        if not rows:
            break
        n = stale.filter(pk__in=[r[0] for r in rows])._raw_delete(alias)
        released += n
        if operation_removed.receivers:
            gone = rows
            if n != len(rows):
                left = set(
                    Operation.objects.using(alias).filter(pk__in=[r[0] for r in rows]).values_list("pk", flat=True)
                )
                gone = [r for r in rows if r[0] not in left]
            for _, row_scope, operation_id in gone:
                operation_removed.send(
                    sender=DjangoOperationStore, store=None, scope=row_scope, operation_id=operation_id, reason="stale"
                )
    if released:
        logger.info(
            "op_store: released %d stale admissions on %r",
            released,
            alias,
            extra={"op_store": {"event": "released", "count": released}},
        )
    return released


def stats(*, using: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Counts per state, stale and due rows, stored reply bytes and schemas (for the command/API)."""
    from django.db.models import Count, Sum

    alias = store_alias(using)
    now = now or timezone.now()
    operations = Operation.objects.using(alias)
    per_state = {state.value: 0 for state in Operation.State}
    response_bytes = 0
    for state, count, size in (
        operations.order_by()
        .values("state")
        .annotate(n=Count("pk"), size=Sum("response_size"))
        .values_list("state", "n", "size")
    ):
        per_state[state] = count
        if state == _SEALED:
            response_bytes = int(size or 0)
    return {
        "database": alias,
        "operations": per_state,
        "total": sum(per_state.values()),
        "stale": operations.stale(now).count(),
        "expired_due": operations.expired(now).count(),
        "tombstones_due": operations.tombstones_due(now).count(),
        "response_bytes": response_bytes,
        "schemas": Schema.objects.using(alias).count(),
    }
