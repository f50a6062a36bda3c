"""Operation stores: the contract, the in-memory store, and (imported lazily) the ORM store.

``import op_store.store`` and ``op_store.store.memory`` never import Django, so the contract and the
in-memory store work without settings. ``DjangoOperationStore``, ``store_alias`` and the maintenance
functions of :mod:`op_store.store.orm` load Django's models on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import (
    DEFAULT_LEASE,
    Admission,
    AdmissionOutcome,
    LeasedOperationStore,
    MissingSchemaError,
    OperationState,
    OperationStore,
    OwnershipLostError,
    SealedResponse,
    StoreBusyError,
    StoreError,
)
from .common import PurgeResult, StoreStats
from .memory import InMemoryOperationStore

if TYPE_CHECKING:
    from .orm import DatabaseSchemaSource, DjangoOperationStore, purge, release_stale, stats, store_alias

__all__ = [
    "DEFAULT_LEASE",
    "Admission",
    "AdmissionOutcome",
    "DatabaseSchemaSource",
    "DjangoOperationStore",
    "InMemoryOperationStore",
    "LeasedOperationStore",
    "MissingSchemaError",
    "OperationState",
    "OperationStore",
    "OwnershipLostError",
    "PurgeResult",
    "SealedResponse",
    "StoreBusyError",
    "StoreError",
    "StoreStats",
    "purge",
    "release_stale",
    "stats",
    "store_alias",
]

_LAZY = {"DjangoOperationStore", "DatabaseSchemaSource", "purge", "release_stale", "stats", "store_alias"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import orm

        return getattr(orm, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY)
