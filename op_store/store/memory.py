"""``InMemoryOperationStore``: vox 0.4.0's in-memory store, with op_store's corrections to it.

One lock guards two maps (operations by id, schemas by hash) and every method holds it for its
whole body, as in vox. No Django import: this module loads without settings. Besides the six
contract methods it implements the leased, fenced admission of :class:`LeasedOperationStore` and
expiry (``purge``), with the same semantics as the ORM store, so one conformance suite covers both.

Time comes from ``clock`` (an aware UTC datetime factory) so tests can travel in time. Expiry is
materialised by :meth:`purge`: a sealed reply past its retention is still replayed until a purge
turns it into a tombstone (retention is a minimum, as in the ORM store).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from time import perf_counter

from op_store.vox.schema import Schema, SchemaSource, TypeRef

from .base import (
    DEFAULT_LEASE,
    DEFAULT_RETENTION,
    DEFAULT_TOMBSTONE_RETENTION,
    Admission,
    AdmissionOutcome,
    LeasedOperationStore,
    OperationState,
    OwnershipLostError,
    SealedResponse,
)
from .common import (
    PurgeResult,
    StoreStats,
    check_lease,
    check_operation_id,
    check_registry,
    check_root_type,
    check_status_code,
    check_text,
    classify_existing,
    coerce_response,
    fingerprint_digest,
    new_token,
    seal_closure,
    utc_now,
)

__all__ = ["DEFAULT_RETENTION", "DEFAULT_TOMBSTONE_RETENTION", "InMemoryOperationStore"]


@dataclass(slots=True)
class _Entry:
    state: OperationState
    token: int
    created_at: datetime
    lease_expires_at: datetime | None = None
    fingerprint: bytes | None = None
    method: str = ""
    key: str = ""
    transactional: bool = False
    response: bytes | None = None
    root_type: TypeRef | None = None
    status_code: int | None = None
    sealed_at: datetime | None = None
    expires_at: datetime | None = None

    def sealed_response(self) -> SealedResponse:
        assert self.response is not None and self.root_type is not None
        return SealedResponse(self.response, self.root_type, self.status_code)


class InMemoryOperationStore(LeasedOperationStore):
    """The default store: a thread-safe map in this process (nothing survives a restart).

    ``retention``/``tombstone_retention`` play the role of ``OP_STORE["RETENTION"]`` and
    ``["TOMBSTONE_RETENTION"]`` (this module cannot read Django settings); ``lease`` is the lease of
    a plain :meth:`admit`.
    """

    def __init__(
        self,
        clock: Callable[[], datetime] | None = None,
        *,
        retention: timedelta = DEFAULT_RETENTION,
        tombstone_retention: timedelta = DEFAULT_TOMBSTONE_RETENTION,
        lease: timedelta = DEFAULT_LEASE,
    ) -> None:
        self._clock = clock or utc_now
        self.retention = check_lease(retention)
        self.tombstone_retention = check_lease(tombstone_retention)
        self.lease = check_lease(lease)
        self._lock = threading.Lock()
        self._operations: dict[int, _Entry] = {}
        self._schemas: dict[int, Schema] = {}

    def __repr__(self) -> str:
        return f"<InMemoryOperationStore: {len(self._operations)} operations, {len(self._schemas)} schemas>"

    def now(self) -> datetime:
        return self._clock()

    # --- the six contract methods ------------------------------------------------------------

    def admit(self, operation_id: int) -> None:
        operation_id = check_operation_id(operation_id)
        now = self._clock()
        with self._lock:
            if operation_id not in self._operations:
                self._operations[operation_id] = _Entry(
                    OperationState.ADMITTED, new_token(), now, lease_expires_at=now + self.lease
                )

    def lookup(self, operation_id: int) -> OperationState:
        operation_id = check_operation_id(operation_id)
        with self._lock:
            entry = self._operations.get(operation_id)
            return OperationState.UNKNOWN if entry is None else entry.state

    def get_sealed(self, operation_id: int) -> SealedResponse | None:
        operation_id = check_operation_id(operation_id)
        with self._lock:
            entry = self._operations.get(operation_id)
            if entry is None or entry.state is not OperationState.SEALED:
                return None
            return entry.sealed_response()

    def seal(self, operation_id: int, response: bytes, root_type: TypeRef, registry: SchemaSource) -> None:
        self._seal(operation_id, None, response, root_type, registry, None)

    def remove(self, operation_id: int) -> None:
        operation_id = check_operation_id(operation_id)
        with self._lock:
            entry = self._operations.get(operation_id)
            if entry is not None and entry.state is OperationState.ADMITTED:
                del self._operations[operation_id]

    def schema_source(self) -> SchemaSource:
        return self

    def get_schema(self, schema_id: int, /) -> Schema | None:
        with self._lock:
            return self._schemas.get(schema_id)

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
        operation_id = check_operation_id(operation_id)
        digest = fingerprint_digest(fingerprint)
        lease = check_lease(lease)
        check_text(method, "method")
        check_text(key, "key")
        now = self._clock()
        with self._lock:
            entry = self._operations.get(operation_id)
            if entry is None:
                token = new_token()
                self._operations[operation_id] = _Entry(
                    OperationState.ADMITTED,
                    token,
                    now,
                    lease_expires_at=now + lease,
                    fingerprint=digest,
                    method=method,
                    key=key,
                    transactional=bool(transactional),
                )
                return Admission(
                    AdmissionOutcome.ADMITTED, token, lease_expires_at=now + lease, transactional=bool(transactional)
                )
            return self._classify(entry, digest, now)

    @staticmethod
    def _classify(entry: _Entry, digest: bytes | None, now: datetime) -> Admission:
        return classify_existing(
            state=entry.state,
            token=entry.token,
            stored_fingerprint=entry.fingerprint,
            lease_expires_at=entry.lease_expires_at,
            transactional=entry.transactional,
            sealed=entry.sealed_response,
            offered_fingerprint=digest,
            now=now,
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
        """Compare-and-set (see the base class). An id that vanished meanwhile is admitted afresh."""
        operation_id = check_operation_id(operation_id)
        lease = check_lease(lease)
        digest = fingerprint_digest(fingerprint)
        now = self._clock()
        with self._lock:
            entry = self._operations.get(operation_id)
            if entry is None:
                token = new_token()
                self._operations[operation_id] = _Entry(
                    OperationState.ADMITTED,
                    token,
                    now,
                    lease_expires_at=now + lease,
                    fingerprint=digest,
                    transactional=bool(transactional),
                )
                return Admission(
                    AdmissionOutcome.ADMITTED, token, lease_expires_at=now + lease, transactional=bool(transactional)
                )
            if (
                entry.state is OperationState.ADMITTED
                and entry.token == stale_token
                and entry.lease_expires_at is not None
                and entry.lease_expires_at < now
            ):
                entry.token = new_token()
                entry.lease_expires_at = now + lease
                entry.transactional = bool(transactional)
                return Admission(
                    AdmissionOutcome.ADMITTED,
                    entry.token,
                    lease_expires_at=entry.lease_expires_at,
                    transactional=entry.transactional,
                )
            return self._classify(entry, digest, now)

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
        self._seal(operation_id, token, response, root_type, registry, status_code)

    def release(self, operation_id: int, token: int) -> bool:
        operation_id = check_operation_id(operation_id)
        with self._lock:
            entry = self._operations.get(operation_id)
            if entry is not None and entry.state is OperationState.ADMITTED and entry.token == token:
                del self._operations[operation_id]
                return True
            return False

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
        root_type = check_root_type(root_type)
        registry = check_registry(registry)
        status_code = check_status_code(status_code)
        now = self._clock()
        with self._lock:
            # All or nothing: the closure is complete (or MissingSchemaError) before anything changes.
            new_schemas = seal_closure(root_type, registry, self._schemas)
            entry = self._operations.get(operation_id)
            if token is not None and (
                entry is None or entry.state is not OperationState.ADMITTED or entry.token != token
            ):
                raise OwnershipLostError(_lost_message(operation_id, token, entry))
            if entry is not None and entry.state is not OperationState.ADMITTED:
                return  # a seal of a sealed id (or a tombstone) keeps the first reply
            for schema in new_schemas:
                self._schemas[schema.id] = schema
            if entry is None:  # sealing an id that was never admitted works (as in vox)
                entry = self._operations[operation_id] = _Entry(OperationState.SEALED, new_token(), now)
            entry.state = OperationState.SEALED
            entry.response = data
            entry.root_type = root_type
            entry.status_code = status_code
            entry.sealed_at = now
            entry.expires_at = now + self.retention

    # --- expiry -------------------------------------------------------------------------------

    def purge(self, now: datetime | None = None, *, dry_run: bool = False) -> PurgeResult:
        """Turn sealed replies past retention into tombstones; drop tombstones past theirs.

        A tombstone keeps the id (and fingerprint) so a late retry gets ``EXPIRED`` rather than
        running again; it lives ``tombstone_retention`` from the purge that made it.
        """
        started = perf_counter()
        now = now or self._clock()
        expired = deleted = 0
        with self._lock:
            for operation_id, entry in list(self._operations.items()):
                if entry.expires_at is None or entry.expires_at >= now:
                    continue
                if entry.state is OperationState.EXPIRED:
                    deleted += 1
                    if not dry_run:
                        del self._operations[operation_id]
                elif entry.state is OperationState.SEALED:
                    expired += 1
                    if not dry_run:
                        entry.state = OperationState.EXPIRED
                        entry.response = entry.root_type = None
                        entry.expires_at = now + self.tombstone_retention
        elapsed = perf_counter() - started
        return PurgeResult(expired, deleted, 1, elapsed, elapsed, dry_run)

    def release_stale(self, now: datetime | None = None, *, dry_run: bool = False) -> int:
        """Remove admissions whose lease has expired; returns how many."""
        now = now or self._clock()
        with self._lock:
            stale = [
                op_id
                for op_id, e in self._operations.items()
                if e.state is OperationState.ADMITTED and e.lease_expires_at is not None and e.lease_expires_at < now
            ]
            if not dry_run:
                for op_id in stale:
                    del self._operations[op_id]
        return len(stale)

    def stats(self, now: datetime | None = None) -> StoreStats:
        """What :func:`op_store.store.orm.stats` reports, for this store (``database`` is None)."""
        now = now or self._clock()
        with self._lock:
            counts = {state.value: 0 for state in OperationState if state is not OperationState.UNKNOWN}
            size = stale = expired_due = tombstones_due = 0
            for entry in self._operations.values():
                counts[entry.state.value] += 1
                due = entry.expires_at is not None and entry.expires_at < now
                if entry.state is OperationState.SEALED:
                    size += len(entry.response or b"")
                    expired_due += due
                elif entry.state is OperationState.EXPIRED:
                    tombstones_due += due
                else:
                    stale += entry.lease_expires_at is not None and entry.lease_expires_at < now
            return StoreStats(
                database=None,
                operations=counts,
                stale=stale,
                expired_due=expired_due,
                tombstones_due=tombstones_due,
                response_bytes=size,
                schemas=len(self._schemas),
            )


def _lost_message(operation_id: int, token: int, entry: _Entry | None) -> str:
    if entry is None:
        found = "it is not admitted (released, or never admitted)"
    elif entry.state is not OperationState.ADMITTED:
        found = f"it is already {entry.state.value}"
    else:
        found = "another owner took it over"
    return f"cannot seal operation {operation_id} with owner token {token}: {found}; nothing was written"
