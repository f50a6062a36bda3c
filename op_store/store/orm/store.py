"""``DjangoOperationStore``: the OperationStore contract on the Django ORM.

The store resolves its database, checks input and sends signals; the SQL and the way each vendor
admits live in :mod:`.dialects`, the sibling connection in :mod:`.siblings`, the seal in
:mod:`.sealing`, batch jobs in :mod:`.maintenance`. See :mod:`op_store.store.orm` for the design.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

from django.db import DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from op_store.conf import op_store_settings
from op_store.models import SCOPE_MAX_LENGTH, Operation
from op_store.signals import operation_admitted, operation_removed
from op_store.vox.schema import SchemaSource, TypeRef

from ..base import DEFAULT_LEASE, Admission, AdmissionOutcome, LeasedOperationStore, OperationState, SealedResponse
from ..common import (
    PurgeResult,
    StoreStats,
    check_lease,
    check_operation_id,
    check_scope,
    check_text,
    fingerprint_digest,
    new_token,
    storable_text,
)
from . import in_transaction, maintenance
from .alias import store_alias
from .dialects import INSERT_COLUMNS, Dialect, PostgresDialect, StoredRow, admitted_row, dialect_for
from .prepared import statement_cursor
from .schemas import DatabaseSchemaSource
from .sealing import seal
from .siblings import admission_connections

__all__ = ["DjangoOperationStore", "purge", "release_stale", "stats"]

logger = logging.getLogger("op_store")

_ADMITTED = Operation.State.ADMITTED.value
_SEALED = Operation.State.SEALED.value


class DjangoOperationStore(LeasedOperationStore):
    """The OperationStore contract on the ORM, bound to one scope.

    ``scope`` separates clients: operation ids are only unique per client session, so the same id
    in two scopes is two operations. ``clock`` (default ``django.utils.timezone.now``) lets tests
    travel in time; leases and retention are computed from it, not from the database server.
    ``prepared`` and ``admission_function`` (None: the settings ``PREPARED_STATEMENTS`` and
    ``ADMISSION_FUNCTION``) choose how this store runs its statements and admits on PostgreSQL.
    """

    def __init__(
        self,
        scope: str = "",
        using: str | None = None,
        clock: Callable[[], datetime] | None = None,
        *,
        prepared: bool | None = None,
        admission_function: bool | None = None,
    ) -> None:
        self.scope = check_scope(scope, SCOPE_MAX_LENGTH)
        if using is not None and not isinstance(using, str):
            raise TypeError(f"using must be a database alias or None, got {using!r}")
        for name, flag in (("prepared", prepared), ("admission_function", admission_function)):
            if flag is not None and not isinstance(flag, bool):
                raise TypeError(f"{name} must be True, False or None, got {flag!r}")
        self.using = using
        self.prepared = prepared
        self.admission_function = admission_function
        self._clock = clock or timezone.now

    def __repr__(self) -> str:
        return f"<DjangoOperationStore scope={self.scope!r} using={self.using!r}>"

    @property
    def alias(self) -> str:
        return store_alias(self.using)

    def now(self) -> datetime:
        return self._clock()

    def cursor(self, conn: BaseDatabaseWrapper) -> Any:
        """A cursor for the store's statements (prepared on the server if asked: ``prepared``, else
        ``OP_STORE["PREPARED_STATEMENTS"]``; see :mod:`op_store.store.orm.prepared`)."""
        prepared = op_store_settings.PREPARED_STATEMENTS if self.prepared is None else self.prepared
        return statement_cursor(conn, prepared)

    def uses_admission_function(self, dialect: Dialect) -> bool:
        """Whether admissions call ``op_store_admit`` (PostgreSQL only): ``admission_function``, else
        ``OP_STORE["ADMISSION_FUNCTION"]``; see :mod:`op_store.store.orm.dialects`."""
        wanted = op_store_settings.ADMISSION_FUNCTION if self.admission_function is None else self.admission_function
        return wanted and isinstance(dialect, PostgresDialect) and not dialect.function_missing

    # --- the six contract methods ------------------------------------------------------------

    def admit(self, operation_id: int) -> None:
        self._admit(check_operation_id(operation_id), None, op_store_settings.LEASE, "", "", False)

    def lookup(self, operation_id: int) -> OperationState:
        operation_id = check_operation_id(operation_id)
        conn = connections[self.alias]
        dialect = dialect_for(conn)
        with self.cursor(conn) as cursor:
            cursor.execute(dialect.select_state, dialect.key(self.scope, operation_id))
            row = cursor.fetchone()
        return OperationState.UNKNOWN if row is None else OperationState(row[0])

    def get_sealed(self, operation_id: int) -> SealedResponse | None:
        operation_id = check_operation_id(operation_id)
        conn = connections[self.alias]
        dialect = dialect_for(conn)
        with self.cursor(conn) as cursor:
            cursor.execute(dialect.select_sealed, dialect.key(self.scope, operation_id))
            row = cursor.fetchone()
        if row is None or row[0] != _SEALED:
            return None
        root = dialect.root_type(row[2])
        assert root is not None
        return SealedResponse(bytes(row[1]), root, row[3])

    def seal(self, operation_id: int, response: bytes, root_type: TypeRef, registry: SchemaSource) -> None:
        seal(self, operation_id, None, response, root_type, registry, None)

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
            storable_text(check_text(method, "method", 255), 255),
            storable_text(check_text(key, "key", 255), 255),
            bool(transactional),
        )

    def _admit(
        self, operation_id: int, digest: bytes | None, lease: timedelta, method: str, key: str, transactional: bool
    ) -> Admission:
        conn = admission_connections.acquire(self.alias)
        dialect = dialect_for(conn)
        now = self._clock()
        lease_expires_at = now + lease
        token = 0  # drawn with the row's values, only when a row is inserted (a replay needs none)

        def params() -> list[Any]:
            nonlocal token
            token = new_token()
            values = admitted_row(
                self.scope,
                operation_id,
                method=method,
                key=key,
                fingerprint=digest,
                token=token,
                transactional=transactional,
                created_at=now,
                lease_expires_at=lease_expires_at,
            )
            return dialect.prep_values(INSERT_COLUMNS, values)

        try:
            row = self._read_first(conn, dialect, operation_id)
            if row is None:
                by_function = self.uses_admission_function(dialect)
                admit = cast(PostgresDialect, dialect).admit_by_function if by_function else dialect.admit
                with Bounded(dialect):
                    inserted, row = admit(
                        functools.partial(self.cursor, conn), dialect.key(self.scope, operation_id), params
                    )
            else:
                inserted = False
        finally:
            admission_connections.done(conn)
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

    def _read_first(self, conn: BaseDatabaseWrapper, dialect: Dialect, operation_id: int) -> StoredRow | None:
        """With ``OP_STORE["READ_FIRST"]``, the stored row read by a plain SELECT (a replay stops here)."""
        if dialect.reads_first or not op_store_settings.READ_FIRST:
            return None
        with self.cursor(conn) as cursor:
            cursor.execute(dialect.select_row, dialect.key(self.scope, operation_id))
            found = cursor.fetchone()
        return None if found is None else dialect.row(found)

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
        conn = admission_connections.acquire(self.alias)
        dialect = dialect_for(conn)
        now = self._clock()
        token = new_token()
        lease_expires_at = now + lease
        key = dialect.key(self.scope, operation_id)
        try:
            with Bounded(dialect), self.cursor(conn) as cursor:
                params = [
                    token,
                    dialect.prep("lease_expires_at", lease_expires_at),
                    dialect.prep("transactional", bool(transactional)),
                    *key,
                    _ADMITTED,
                    stale_token,
                    dialect.prep("lease_expires_at", now),
                ]
                cursor.execute(dialect.take_over, dialect.take_over_params(params))
                won = cursor.rowcount == 1
                if not won:
                    cursor.execute(dialect.select_row, key)
                    found = cursor.fetchone()
        finally:
            admission_connections.done(conn)
        if won:
            admission = Admission(
                AdmissionOutcome.ADMITTED, token, lease_expires_at=lease_expires_at, transactional=bool(transactional)
            )
            self._admitted(operation_id, admission, "", "", taken_over=True)
            return admission
        if found is None:
            return self._admit(operation_id, digest, lease, "", "", bool(transactional))
        return dialect.row(found).classify(digest, now)

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
        seal(self, operation_id, token, response, root_type, registry, status_code)

    def release(self, operation_id: int, token: int) -> bool:
        if isinstance(token, bool) or not isinstance(token, int):
            raise TypeError(f"token must be an int, got {type(token).__name__}")
        return self._delete(check_operation_id(operation_id), token, "release")

    def _delete(self, operation_id: int, token: int | None, reason: str) -> bool:
        alias = self.alias
        conn = connections[alias]
        if dialect_for(conn).removes_on_sibling:
            conn = admission_connections.acquire(alias)
        dialect = dialect_for(conn)
        params = [*dialect.key(self.scope, operation_id), _ADMITTED]
        if token is not None:
            params.append(token)
        statement = dialect.delete_statement(owned=token is not None, on_sibling=conn.alias != alias)
        try:
            with self.cursor(conn) as cursor:
                cursor.execute(statement, params)
                removed = cursor.rowcount > 0
        finally:
            admission_connections.done(conn)
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

    # --- the one-commit mode (see :mod:`.in_transaction`) ---------------------------------------

    def peek(self, operation_id: int, *, fingerprint: bytes | None = None) -> Admission | None:
        """What :meth:`try_admit` would answer for a stored row, with one SELECT; None when there is none."""
        return in_transaction.peek(self, operation_id, fingerprint)

    def admit_in_transaction(
        self,
        operation_id: int,
        *,
        fingerprint: bytes | None = None,
        lease: timedelta = DEFAULT_LEASE,
        method: str = "",
        key: str = "",
    ) -> Admission:
        """Admit inside the transaction open on the store's database: the row commits with it or not at all."""
        return in_transaction.admit(self, operation_id, fingerprint=fingerprint, lease=lease, method=method, key=key)

    def waited_out(self, exc: BaseException) -> bool:
        """Whether ``exc`` says a wait for another transaction's lock ran out (the operation may be in flight)."""
        return in_transaction.waited_out(self, exc)

    def discard_in_transaction(self, operation_id: int, token: int) -> None:
        """Delete the row :meth:`admit_in_transaction` inserted, in the same open transaction."""
        in_transaction.discard(self, check_operation_id(operation_id), token)

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
        return maintenance.purge(
            sender=type(self),
            now=now or self._clock(),
            using=self.using,
            batch_size=batch_size,
            progress=progress,
            dry_run=dry_run,
        )

    def release_stale(self, now: datetime | None = None, *, dry_run: bool = False) -> int:
        """:func:`release_stale` for this store's scope."""
        return maintenance.release_stale(
            sender=type(self), now=now or self._clock(), using=self.using, scope=self.scope, dry_run=dry_run
        )

    def stats(self, now: datetime | None = None) -> StoreStats:
        """:func:`stats` of this store's database (all scopes)."""
        return maintenance.stats(using=self.using, now=now or self._clock())


class Bounded:
    """A lock wait that ran out (or a busy SQLite database) as :class:`StoreBusyError`; nothing was
    written, and the caller answers "in flight" or "busy, retry" instead of failing.

    A class rather than a ``contextlib.contextmanager``: it wraps every admission, and a
    generator-based context manager costs a few microseconds more per use.
    """

    __slots__ = ("dialect",)

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc is None or not isinstance(exc, DatabaseError):
            return
        busy = self.dialect.busy_error(exc)
        if busy is None:
            return
        logger.info("%s", busy, extra={"op_store": {"event": "busy", "in_flight": busy.in_flight}})
        raise busy from exc


#: Maintenance across scopes, with the store class as the signals' sender (see :mod:`.maintenance`).
purge = functools.partial(maintenance.purge, sender=DjangoOperationStore)
release_stale = functools.partial(maintenance.release_stale, sender=DjangoOperationStore)
stats = maintenance.stats
