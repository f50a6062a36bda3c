"""A seal on the ORM: one conditional UPDATE (plus the new schemas) in the caller's transaction.

See "Transactional seal" and "Schema cache" in :mod:`op_store.store.orm`.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from op_store.conf import op_store_settings
from op_store.models import Operation, Schema
from op_store.signals import operation_sealed
from op_store.vox.ids import u64_to_i64
from op_store.vox.schema import Schema as VoxSchema
from op_store.vox.schema import SchemaSource, TypeRef

from ..base import OwnershipLostError
from ..common import (
    check_operation_id,
    check_registry,
    check_root_type,
    check_status_code,
    coerce_response,
    new_token,
    seal_closure,
)
from .dialects import INSERT_SEALED_COLUMNS, SEAL_COLUMNS, Dialect, dialect_for
from .outcomes import SealOutcome
from .schema_cache import KnownTracker, schema_cache
from .transactions import in_caller_transaction, write_block

if TYPE_CHECKING:
    from .store import DjangoOperationStore

__all__ = ["seal"]

logger = logging.getLogger("op_store")

_ADMITTED = Operation.State.ADMITTED.value
_SEALED = Operation.State.SEALED.value
#: How often a seal is tried again after a concurrent change or a stale schema cache.
_SEAL_ATTEMPTS = 10


def seal(
    store: DjangoOperationStore,
    operation_id: int,
    token: int | None,
    response: bytes,
    root_type: TypeRef,
    registry: SchemaSource,
    status_code: int | None,
) -> None:
    """Seal ``operation_id`` in ``store``'s scope: fenced by ``token``, or any admission (None)."""
    operation_id = check_operation_id(operation_id)
    data = coerce_response(response)
    root = check_root_type(root_type)
    registry = check_registry(registry)
    status_code = check_status_code(status_code)
    attempt = _SealAttempt(store, connections[store.alias], operation_id, token)
    now = store.now()
    sealed = {
        "state": _SEALED,
        "response": data,
        "root_type": root,  # adapted by prep_root_type
        "response_size": len(data),
        "status_code": status_code,
        "sealed_at": now,
        "expires_at": now + op_store_settings.RETENTION,
    }
    dialect = attempt.dialect
    seal_params = [
        dialect.prep_root_type(root) if name == "root_type" else dialect.prep(name, sealed[name])
        for name in SEAL_COLUMNS
    ]
    cache_key = schema_cache.key(attempt.conn)
    trust_cache = True
    for _ in range(_SEAL_ATTEMPTS):
        tracker = KnownTracker(schema_cache.known(cache_key) if trust_cache else frozenset())
        new_schemas = seal_closure(root, registry, tracker, attempt.stored)  # MissingSchemaError: nothing written
        outcome = attempt.run(seal_params, sorted(tracker.hits), new_schemas, now)
        if outcome is SealOutcome.SEALED:
            learned = {s.id for s in new_schemas} | attempt.found_stored
            if learned:
                schema_cache.add_on_commit(attempt.conn, learned)
            _sealed(store, operation_id, len(data), status_code, len(new_schemas))
            return
        if outcome is SealOutcome.ABSORBED:
            return  # already sealed (or a tombstone): the first reply stays
        if outcome is SealOutcome.STALE_CACHE:
            schema_cache.forget(cache_key)
            trust_cache = False
        # STALE_CACHE or RETRY (a concurrent change): again; nothing was written
    raise RuntimeError(f"op_store: could not seal operation {operation_id} (scope {store.scope!r}): too many races")


class _SealAttempt:
    """What every attempt of one seal shares: the connection, its dialect, the row's key."""

    def __init__(self, store: DjangoOperationStore, conn: BaseDatabaseWrapper, operation_id: int, token: int | None):
        self.store = store
        self.conn = conn
        self.dialect: Dialect = dialect_for(conn)
        self.operation_id = operation_id
        self.token = token
        self.key = self.dialect.key(store.scope, operation_id)
        self.caller_txn = in_caller_transaction(conn)
        self.found_stored: set[int] = set()

    def stored(self, schema_id: int) -> bool:
        """Whether the table has a schema the registry lacks (stored with its closure)."""
        if Schema.objects.using(self.conn.alias).filter(pk=schema_id).exists():
            self.found_stored.add(schema_id)
            return True
        return False

    def run(
        self, seal_params: list[Any], guards: list[int], new_schemas: list[VoxSchema], now: datetime
    ) -> SealOutcome:
        """One attempt: the conditional UPDATE (+ schemas); raises OwnershipLostError (nothing written)."""
        dialect, key, token = self.dialect, self.key, self.token
        guard_sql = "".join(f" AND {dialect.exists_schema}" for _ in guards)
        guard_params = [u64_to_i64(g) for g in guards]
        found: tuple[Any, ...] | None = None
        with write_block(self.conn, self.caller_txn) if new_schemas else nullcontext():
            with self.store.cursor(self.conn) as cursor:
                if token is not None:
                    cursor.execute(
                        dialect.seal_owned + guard_sql, [*seal_params, *key, _ADMITTED, token, *guard_params]
                    )
                else:
                    cursor.execute(dialect.seal_admitted + guard_sql, [*seal_params, *key, _ADMITTED, *guard_params])
                if cursor.rowcount == 1:
                    outcome = SealOutcome.SEALED
                else:
                    outcome, found = self._why_not_sealed(cursor, guards)
                    if outcome is SealOutcome.NOT_ADMITTED:  # a plain seal without admission
                        inserted = self._insert_sealed(cursor, seal_params, now)
                        outcome = SealOutcome.SEALED if inserted else SealOutcome.RETRY
            if outcome is SealOutcome.SEALED and new_schemas:
                Schema.objects.using(self.conn.alias).bulk_create(
                    [Schema.from_vox(s) for s in new_schemas], ignore_conflicts=True
                )
            if outcome is SealOutcome.LOST:
                if self.caller_txn and self.conn.in_atomic_block:
                    # The handler's writes in this transaction must not commit without the seal.
                    transaction.set_rollback(True, using=self.conn.alias)
                message = self._lost_message(found)
                logger.warning(
                    message, extra={"op_store": {"event": "ownership_lost", "operation_id": self.operation_id}}
                )
                raise OwnershipLostError(message)
        return outcome

    def _insert_sealed(self, cursor: Any, seal_params: list[Any], now: datetime) -> bool:
        values = {
            "scope": self.store.scope,
            "operation_id": self.operation_id,
            "method": "",
            "key": "",
            "fingerprint": None,
            "token": new_token(),
            "transactional": False,
            "created_at": now,
            "lease_expires_at": None,
        }
        params = self.dialect.prep_values(INSERT_SEALED_COLUMNS[: len(values)], values)
        return self.dialect.insert_sealed_row(cursor, params + seal_params)

    def _why_not_sealed(self, cursor: Any, guards: list[int]) -> tuple[SealOutcome, tuple[Any, ...] | None]:
        """After a seal UPDATE matched nothing, say why (and what row it found)."""
        dialect = self.dialect
        if guards:
            marks = ", ".join(["%s"] * len(guards))
            cursor.execute(
                f"SELECT COUNT(*) FROM {dialect.schema_table} WHERE {dialect.schema_pk} IN ({marks})",
                [u64_to_i64(g) for g in guards],
            )
            if cursor.fetchone()[0] != len(guards):
                logger.info("op_store: the schema cache was stale for %r; writing the schemas again", self.conn.alias)
                return SealOutcome.STALE_CACHE, None
        cursor.execute(dialect.select_state_token, self.key)
        found = cursor.fetchone()
        if self.token is not None:
            if found is not None and found[0] == _ADMITTED and int(found[1]) == self.token:
                return SealOutcome.RETRY, found
            return SealOutcome.LOST, found
        if found is None:
            return SealOutcome.NOT_ADMITTED, None
        return (SealOutcome.RETRY if found[0] == _ADMITTED else SealOutcome.ABSORBED), found

    def _lost_message(self, found: tuple[Any, ...] | None) -> str:
        if found is None:
            why = "it is not admitted (released, removed, or never admitted)"
        elif found[0] != _ADMITTED:
            why = f"it is already {found[0]}"
        else:
            why = "another owner took it over after its lease expired"
        return (
            f"cannot seal operation {self.operation_id} (scope {self.store.scope!r}) with owner token "
            f"{self.token}: {why}; nothing was written"
        )


def _sealed(store: DjangoOperationStore, operation_id: int, size: int, status_code: int | None, written: int) -> None:
    operation_sealed.send(
        sender=type(store),
        store=store,
        scope=store.scope,
        operation_id=operation_id,
        response_size=size,
        status_code=status_code,
        schemas_written=written,
    )
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "op_store: sealed scope=%r operation_id=%d (%d bytes, %d new schemas)",
            store.scope,
            operation_id,
            size,
            written,
            extra={
                "op_store": {
                    "event": "sealed",
                    "scope": store.scope,
                    "operation_id": operation_id,
                    "response_size": size,
                    "schemas_written": written,
                }
            },
        )
