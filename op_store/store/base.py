"""The OperationStore contract (vox-core 0.4.0) plus the atomic admission the lifecycle uses.

No Django import here: the in-memory store and the contract must load without settings.
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from op_store.vox.schema import SchemaSource, TypeRef


class OperationState(enum.Enum):
    """What a store holds for an id. ``EXPIRED`` is a tombstone: sealed once, payload purged."""

    UNKNOWN = "unknown"
    ADMITTED = "admitted"
    SEALED = "sealed"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class SealedResponse:
    """A sealed reply: the postcard bytes (no schemas) and the root type that describes them."""

    response: bytes
    root_type: TypeRef
    status_code: int | None = None


class StoreError(Exception):
    """Base class of the errors a store raises on purpose."""


class MissingSchemaError(StoreError):
    """``seal`` was given a registry that lacks a schema of the response's closure; nothing stored."""

    def __init__(self, schema_id: int) -> None:
        super().__init__(schema_id)
        self.schema_id = schema_id

    def __str__(self) -> str:
        return (
            f"schema {self.schema_id:016x} is needed by the response's type closure but is missing "
            "from the registry; nothing was stored"
        )


class OwnershipLostError(StoreError):
    """A fenced seal or release was refused: the admission's owner token is no longer current."""


class StoreBusyError(StoreError):
    """The database did not grant a lock within op_store's bound; nothing was written, retry later.

    ``in_flight``: the wait was on this operation's own row, which another request's transaction
    holds (it is running or being sealed), so the operation is in flight. Otherwise the database as
    a whole was busy (SQLite's single writer). See docs/architecture.md, "Bounded waits".
    """

    def __init__(self, message: str, *, in_flight: bool) -> None:
        super().__init__(message)
        self.in_flight = in_flight


class AdmissionOutcome(enum.Enum):
    ADMITTED = "admitted"  # the caller owns the operation now (``Admission.token``)
    SEALED = "sealed"  # already done: ``Admission.sealed`` holds the reply
    IN_FLIGHT = "in_flight"  # another owner's lease is live
    STALE = "stale"  # admitted, lease expired, never sealed
    CONFLICT = "conflict"  # same id, different fingerprint
    EXPIRED = "expired"  # tombstone: sealed once, payload purged


@dataclass(frozen=True, slots=True)
class Admission:
    """The answer of :meth:`OperationStore.try_admit`.

    ``token`` is the owner (fencing) token: set when ``ADMITTED`` and, for ``STALE`` and
    ``IN_FLIGHT``, the current owner's token, which :meth:`take_over` compares against.
    """

    outcome: AdmissionOutcome
    token: int | None = None
    sealed: SealedResponse | None = None
    lease_expires_at: datetime | None = None
    transactional: bool = False

    @property
    def admitted(self) -> bool:
        return self.outcome is AdmissionOutcome.ADMITTED

    @property
    def in_flight(self) -> bool:
        return self.outcome is AdmissionOutcome.IN_FLIGHT

    @property
    def stale(self) -> bool:
        return self.outcome is AdmissionOutcome.STALE

    @property
    def conflict(self) -> bool:
        return self.outcome is AdmissionOutcome.CONFLICT

    @property
    def expired(self) -> bool:
        return self.outcome is AdmissionOutcome.EXPIRED

    @property
    def is_sealed(self) -> bool:
        return self.outcome is AdmissionOutcome.SEALED


class OperationStore(abc.ABC):
    """The six methods of vox's ``OperationStore`` trait (semantics: ``docs/architecture.md``)."""

    @abc.abstractmethod
    def admit(self, operation_id: int) -> None:
        """Record that processing starts; inserts ADMITTED only if the id is absent."""

    @abc.abstractmethod
    def lookup(self, operation_id: int) -> OperationState:
        """Exactly what is stored for the id."""

    @abc.abstractmethod
    def get_sealed(self, operation_id: int) -> SealedResponse | None:
        """The sealed reply, or None when the id is not SEALED."""

    @abc.abstractmethod
    def seal(self, operation_id: int, response: bytes, root_type: TypeRef, registry: SchemaSource) -> None:
        """Store the closure of ``root_type`` from ``registry`` (all or nothing), then SEALED."""

    @abc.abstractmethod
    def remove(self, operation_id: int) -> None:
        """Drop an ADMITTED (unsealed) operation; SEALED and unknown ids are left alone."""

    @abc.abstractmethod
    def schema_source(self) -> SchemaSource:
        """Schemas by hash, as stored."""


#: Defaults of both stores, and of ``OP_STORE["LEASE"]``, ``["RETENTION"]``, ``["TOMBSTONE_RETENTION"]``.
DEFAULT_LEASE = timedelta(seconds=60)
DEFAULT_RETENTION = timedelta(hours=24)
DEFAULT_TOMBSTONE_RETENTION = timedelta(days=7)


class LeasedOperationStore(OperationStore):
    """The contract plus leased, fenced admission: what the request lifecycle and RPC view use."""

    @abc.abstractmethod
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
        """Admit atomically, or report sealed / in flight / stale / conflict / expired.

        The fingerprint is compared on every outcome but ``ADMITTED``; an admission commits on
        its own before this returns, visible to every other connection. ``method`` and ``key``
        (the client's Idempotency-Key text, if any) are recorded for inspection only.
        """

    @abc.abstractmethod
    def take_over(
        self,
        operation_id: int,
        stale_token: int,
        *,
        lease: timedelta = DEFAULT_LEASE,
        transactional: bool = False,
        fingerprint: bytes | None = None,
    ) -> Admission:
        """Compare-and-set a stale admission owned by ``stale_token`` to a new owner token.

        Exactly one of several racers gets ``ADMITTED``; the others get the state they find.
        ``fingerprint`` is compared against what the racers find, and recorded when the
        admission vanished meanwhile and is admitted afresh.
        """

    @abc.abstractmethod
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
        """Seal only if ``token`` still owns the admission, else raise :class:`OwnershipLostError`.

        Joins the caller's transaction on the store's database when there is one.
        """

    @abc.abstractmethod
    def release(self, operation_id: int, token: int) -> bool:
        """Remove the admission if ``token`` still owns it (the handler failed); True if removed."""
