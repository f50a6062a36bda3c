"""Reading the operation key of a request; it lives in :mod:`op_store.engine.keys` (re-exported here)."""

from __future__ import annotations

from op_store.engine.keys import (
    IDEMPOTENCY_KEY_HEADER,
    KEY_ID_PREFIX,
    MAX_KEY_LENGTH,
    OPERATION_ID_HEADER,
    MalformedKeyError,
    OperationKey,
    has_key,
    key_from_request,
    operation_id_for_key,
    parse_idempotency_key,
    parse_operation_id,
)

__all__ = [
    "IDEMPOTENCY_KEY_HEADER",
    "KEY_ID_PREFIX",
    "MAX_KEY_LENGTH",
    "OPERATION_ID_HEADER",
    "MalformedKeyError",
    "OperationKey",
    "has_key",
    "key_from_request",
    "operation_id_for_key",
    "parse_idempotency_key",
    "parse_operation_id",
]
