"""What both stores share: input checks, the schemas a seal writes, owner tokens, purge results, stats.

No Django import here (the in-memory store uses it). Every check raises before anything is
written, so bad input never leaves a half-written operation behind.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Container, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, cast

import blake3

from op_store.vox.ids import check_u64
from op_store.vox.schema import Concrete, MissingSchemaIdError, Schema, SchemaSource, TypeRef, schema_closure

from .base import Admission, AdmissionOutcome, MissingSchemaError, OperationState, SealedResponse

__all__ = [
    "FINGERPRINT_SIZE",
    "PurgeResult",
    "StoreStats",
    "check_operation_id",
    "check_registry",
    "check_root_type",
    "check_scope",
    "check_status_code",
    "coerce_response",
    "fingerprint_digest",
    "new_token",
    "seal_closure",
    "storable_text",
    "utc_now",
]

#: Stored fingerprints are BLAKE3 digests of this many bytes, whatever the caller passed.
FINGERPRINT_SIZE = 32


def utc_now() -> datetime:
    """The default clock: an aware UTC datetime."""
    return datetime.now(UTC)


def check_operation_id(operation_id: object) -> int:
    """An operation id is a u64; ``bool``, floats and strings are refused (see ``check_u64``)."""
    return check_u64(operation_id, "operation_id")


def coerce_response(response: object) -> bytes:
    """The reply bytes as immutable ``bytes``.

    ``bytes``, ``bytearray`` and ``memoryview`` are accepted (and copied, so a caller mutating its
    buffer later cannot change a sealed reply); ``str`` and everything else is a ``TypeError``
    because silently encoding text would seal something the client never sent.
    """
    if isinstance(response, bytes):
        return response
    if isinstance(response, (bytearray, memoryview)):
        return bytes(response)
    raise TypeError(f"response must be bytes (or bytearray/memoryview), got {type(response).__name__}")


def check_root_type(root_type: object) -> TypeRef:
    """The root of a sealed reply must be a concrete ``TypeRef`` (a ``Var`` describes nothing)."""
    if not isinstance(root_type, TypeRef):
        raise TypeError(f"root_type must be a TypeRef, got {type(root_type).__name__}")
    if not isinstance(root_type, Concrete):
        raise ValueError(f"root_type must be a concrete TypeRef, got {root_type!r}")
    return root_type


def check_registry(registry: object) -> SchemaSource:
    if not callable(getattr(registry, "get_schema", None)):
        raise TypeError(f"registry must be a SchemaSource (with get_schema), got {type(registry).__name__}")
    return registry  # type: ignore[return-value]


def check_status_code(status_code: object) -> int | None:
    if status_code is None:
        return None
    if isinstance(status_code, bool) or not isinstance(status_code, int) or not 100 <= status_code <= 599:
        raise ValueError(f"status_code must be an HTTP status (100..599) or None, got {status_code!r}")
    return status_code


def check_text(value: object, what: str, max_length: int | None = None) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, got {type(value).__name__}")
    if max_length is not None and len(value) > max_length:
        raise ValueError(f"{what} is {len(value)} characters long; at most {max_length} fit")
    return value


#: What no database column of text can hold everywhere: NUL (PostgreSQL refuses it) and lone
#: surrogates (not encodable as UTF-8; a decoded path or header can carry them).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def storable_text(value: str, max_length: int) -> str:
    """``value`` as a descriptive column can hold it: NUL and lone surrogates written as ``\\x00`` and
    ``\\ud800``, cut to ``max_length``. One-way, for display only (``method``, ``key``): see
    docs/architecture.md, "Text the database cannot hold"."""
    if _UNSTORABLE.search(value) is None:
        return value
    return _UNSTORABLE.sub(_escape, value)[:max_length]


def check_scope(value: object, max_length: int) -> str:
    """A scope as a store can key rows by: text without NUL or lone surrogates.

    A scope is an identity, so it is refused rather than escaped (an escaped scope could equal
    another client's scope written out with a backslash).
    """
    scope = check_text(value, "scope", max_length)
    bad = _UNSTORABLE.search(scope)
    if bad is not None:
        raise ValueError(
            f"scope {scope!r} contains {_escape(bad)}: a scope cannot hold NUL or a lone surrogate "
            "(make the scope resolver return plain text, e.g. a digest of what it derives the scope from)"
        )
    return scope


def fingerprint_digest(fingerprint: bytes | bytearray | memoryview | None) -> bytes | None:
    """What is stored for a fingerprint: a fixed 32-byte BLAKE3 digest.

    A pluggable fingerprint function may return anything from a digest to a whole request body;
    storing its digest keeps rows small and the column fixed-size, and comparing digests is
    comparing fingerprints.
    """
    if fingerprint is None:
        return None
    if not isinstance(fingerprint, (bytes, bytearray, memoryview)):
        raise TypeError(f"fingerprint must be bytes or None, got {type(fingerprint).__name__}")
    return blake3.blake3(bytes(fingerprint)).digest(length=FINGERPRINT_SIZE)


def fingerprints_conflict(stored: bytes | None, offered: bytes | None) -> bool:
    """Two fingerprints conflict only when both are known and differ (None = not recorded)."""
    return stored is not None and offered is not None and bytes(stored) != offered


def classify_existing(
    *,
    state: OperationState,
    token: int,
    stored_fingerprint: bytes | None,
    lease_expires_at: datetime | None,
    transactional: bool,
    sealed: Callable[[], SealedResponse],
    offered_fingerprint: bytes | None,
    now: datetime,
) -> Admission:
    """What ``try_admit`` answers for an id that is already stored: the one rule both stores follow.

    The fingerprint is compared first, on every path (a conflict is reported even for a sealed
    id); ``sealed`` is called only for a sealed entry, so others pay nothing for building its reply.
    """
    if fingerprints_conflict(stored_fingerprint, offered_fingerprint):
        return Admission(AdmissionOutcome.CONFLICT)
    if state is OperationState.SEALED:
        return Admission(AdmissionOutcome.SEALED, sealed=sealed())
    if state is OperationState.EXPIRED:
        return Admission(AdmissionOutcome.EXPIRED)
    live = lease_expires_at is not None and lease_expires_at > now
    return Admission(
        AdmissionOutcome.IN_FLIGHT if live else AdmissionOutcome.STALE,
        token,
        lease_expires_at=lease_expires_at,
        transactional=transactional,
    )


def new_token() -> int:
    """A random owner (fencing) token: a positive 63-bit int, so it fits a signed BIGINT."""
    return secrets.randbits(63) or 1


def check_lease(lease: object) -> timedelta:
    if not isinstance(lease, timedelta) or lease <= timedelta(0):
        raise ValueError(f"lease must be a positive timedelta, got {lease!r}")
    return lease


def seal_closure(
    root_type: TypeRef,
    registry: SchemaSource,
    known: Container[int],
    stored: Callable[[int], bool] | None = None,
) -> list[Schema]:
    """The schemas a seal must write: the closure of ``root_type`` minus what is already stored.

    vox's walk (:func:`~op_store.vox.schema.schema_closure`): an id in ``known`` is stored together
    with its closure, so it is skipped without descending. Other ids come from ``registry``; when
    the registry lacks one, ``stored(id)`` may still say the store has it (then it is skipped like a
    known id), else :class:`MissingSchemaError` is raised before anything is written.
    """
    if all(schema_id in known for schema_id in root_type.collect_ids()):
        return []  # the usual seal: every root id is stored, with its closure
    try:
        walked = schema_closure(root_type, _SealView(registry, known, stored))
    except MissingSchemaIdError as exc:
        raise MissingSchemaError(exc.schema_id) from None
    return [schema for schema in walked if schema is not _STORED]


class _StoredLeaf:
    """Stands in for a schema that is already stored: the walk neither descends nor keeps it."""

    __slots__ = ()

    def child_ids(self) -> list[int]:
        return []


_STORED = cast(Schema, _StoredLeaf())


class _SealView:
    """The registry as a seal's walk sees it: stored schemas are leaves, returned schemas checked."""

    __slots__ = ("known", "registry", "stored")

    def __init__(self, registry: SchemaSource, known: Container[int], stored: Callable[[int], bool] | None) -> None:
        self.registry = registry
        self.known = known
        self.stored = stored

    def get_schema(self, schema_id: int, /) -> Schema | None:
        if schema_id in self.known:
            return _STORED
        schema = self.registry.get_schema(schema_id)
        if schema is None:
            return _STORED if self.stored is not None and self.stored(schema_id) else None
        if not isinstance(schema, Schema) or schema.id != schema_id:
            raise ValueError(f"registry returned {schema!r} for schema id {schema_id:016x}")
        return schema


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """What a purge did (or, dry, would do)."""

    expired: int = 0  # sealed replies turned into tombstones
    deleted: int = 0  # tombstones dropped
    batches: int = 0
    longest_transaction: float = 0.0  # seconds, the longest single write transaction
    duration: float = 0.0
    dry_run: bool = False
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoreStats(Mapping[str, Any]):
    """What a store holds: counts per state, due work, reply bytes, schemas.

    Also readable as the mapping the stats used to be (``stats["total"]``, ``dict(stats)``), so
    JSON renderers and older callers keep working; :meth:`as_dict` gives a plain, JSON-ready dict.
    """

    database: str | None
    operations: dict[str, int]  # state -> count
    stale: int = 0  # admitted, lease expired
    expired_due: int = 0  # sealed past retention: the next purge expires them
    tombstones_due: int = 0  # tombstones past theirs: the next purge deletes them
    response_bytes: int = 0  # stored reply bytes of sealed operations
    schemas: int = 0

    KEYS: ClassVar[tuple[str, ...]] = (
        "database",
        "operations",
        "total",
        "stale",
        "expired_due",
        "tombstones_due",
        "response_bytes",
        "schemas",
    )

    @property
    def total(self) -> int:
        return sum(self.operations.values())

    def __getitem__(self, key: str) -> Any:
        if key not in self.KEYS:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.KEYS)

    def __len__(self) -> int:
        return len(self.KEYS)

    def as_dict(self) -> dict[str, Any]:
        return {key: dict(self.operations) if key == "operations" else self[key] for key in self.KEYS}
