"""Per-view options and the policy a request runs under; they live in :mod:`op_store.engine.policy`."""

from __future__ import annotations

from op_store.engine.policy import (
    DEFAULT_OPTIONS,
    SAFE_METHODS,
    Fingerprint,
    Options,
    Policy,
    ScopeResolver,
    SealStatuses,
    StalePolicy,
    StoreFactory,
)

__all__ = [
    "DEFAULT_OPTIONS",
    "SAFE_METHODS",
    "Fingerprint",
    "Options",
    "Policy",
    "ScopeResolver",
    "SealStatuses",
    "StalePolicy",
    "StoreFactory",
]
