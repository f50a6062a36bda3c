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

    On PostgreSQL these statements are planned again on every execution (Django binds parameters
    on the client and turns prepared statements off); ``prepared=True`` or
    ``OP_STORE["PREPARED_STATEMENTS"]`` prepares them instead (:mod:`op_store.store.prepared`).

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

Modules
    The pieces live beside this one, each with one concern: :mod:`.alias` (``store_alias``),
    :mod:`.isolation` (the sibling connection), :mod:`.schema_cache`, :mod:`.sql` (the statements
    per backend) and :mod:`.maintenance` (``purge``, ``release_stale``, ``stats``). Their public
    names are re-exported here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from op_store.conf import op_store_settings
from op_store.models import SCOPE_MAX_LENGTH, Operation, Schema
from op_store.signals import operation_admitted, operation_removed, operation_sealed
from op_store.vox.ids import u64_to_i64
from op_store.vox.schema import Schema as VoxSchema
from op_store.vox.schema import SchemaSource, TypeRef

from .alias import store_alias
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
    new_token,
    seal_closure,
)
from .isolation import (
    ADMISSION_ALIAS_SUFFIX,
    ADMISSION_LOCK_TIMEOUT,
    _admission_connection,
    _after_sibling_use,
    _in_caller_transaction,
    admission_isolation,
    close_admission_connections,
)
from .maintenance import purge, release_stale, stats
from .prepared import statement_cursor
from .schema_cache import SchemaCache, _KnownTracker, schema_cache
from .sql import _INSERT, _INSERT_SEALED, _SEAL, _Row, _Sql, _sql

__all__ = [
    "ADMISSION_ALIAS_SUFFIX",
    "ADMISSION_LOCK_TIMEOUT",
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

_ADMITTED = Operation.State.ADMITTED.value
_SEALED = Operation.State.SEALED.value


# --- transactions -------------------------------------------------------------------------------


def _write_block(conn: BaseDatabaseWrapper, caller_txn: bool) -> Any:
    """The atomic block a multi-statement write runs in: join the caller's, else our own."""
    if caller_txn:
        return transaction.atomic(using=conn.alias, savepoint=False)
    # Outside any transaction this is BEGIN/COMMIT; inside TestCase's block, a savepoint that
    # behaves like our own transaction would in production.
    return transaction.atomic(using=conn.alias, savepoint=conn.in_atomic_block)


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
        *,
        prepared: bool | None = None,
    ) -> None:
        self.scope = check_text(scope, "scope", SCOPE_MAX_LENGTH)
        if using is not None and not isinstance(using, str):
            raise TypeError(f"using must be a database alias or None, got {using!r}")
        if prepared is not None and not isinstance(prepared, bool):
            raise TypeError(f"prepared must be True, False or None, got {prepared!r}")
        self.using = using
        self.prepared = prepared
        self._clock = clock or timezone.now

    def __repr__(self) -> str:
        return f"<DjangoOperationStore scope={self.scope!r} using={self.using!r}>"

    @property
    def alias(self) -> str:
        return store_alias(self.using)

    def now(self) -> datetime:
        return self._clock()

    def _cursor(self, conn: BaseDatabaseWrapper) -> Any:
        """A cursor for the store's statements (prepared on the server if asked: ``prepared``, else
        ``OP_STORE["PREPARED_STATEMENTS"]``; see :mod:`op_store.store.prepared`)."""
        prepared = op_store_settings.PREPARED_STATEMENTS if self.prepared is None else self.prepared
        return statement_cursor(conn, prepared)

    def _key(self, sql: _Sql, operation_id: int) -> list[Any]:
        return sql.key(self.scope, operation_id)

    # --- the six contract methods ------------------------------------------------------------

    def admit(self, operation_id: int) -> None:
        self._admit(check_operation_id(operation_id), None, op_store_settings.LEASE, "", "", False)

    def lookup(self, operation_id: int) -> OperationState:
        operation_id = check_operation_id(operation_id)
        conn = connections[self.alias]
        sql = _sql(conn)
        with self._cursor(conn) as cursor:
            cursor.execute(sql.select_state, self._key(sql, operation_id))
            row = cursor.fetchone()
        return OperationState.UNKNOWN if row is None else OperationState(row[0])

    def get_sealed(self, operation_id: int) -> SealedResponse | None:
        operation_id = check_operation_id(operation_id)
        conn = connections[self.alias]
        sql = _sql(conn)
        with self._cursor(conn) as cursor:
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
                with self._cursor(conn) as cursor:
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
                with self._cursor(conn) as cursor:
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
                with block, self._cursor(conn) as cursor:
                    cursor.execute(sql.insert, params)
                return True, None
            except IntegrityError:
                pass
            with self._cursor(conn) as cursor:
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
            with self._cursor(conn) as cursor:
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
            with self._cursor(conn) as cursor:
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
            with self._cursor(conn) as cursor:
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
