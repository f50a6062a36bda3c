"""The RPC view's own problem types; they live in :mod:`op_store.problems` (re-exported here)."""

from __future__ import annotations

from op_store.problems import METHOD_FAILED, METHOD_NOT_ALLOWED, SCHEMA_NOT_FOUND, UNSUPPORTED_MEDIA_TYPE
from op_store.problems import RPC as ALL

__all__ = ["ALL", "METHOD_FAILED", "METHOD_NOT_ALLOWED", "SCHEMA_NOT_FOUND", "UNSUPPORTED_MEDIA_TYPE"]
