"""Moved to :mod:`op_store.store.orm.schema_cache`."""

from __future__ import annotations

from ._moved import warn_moved
from .orm.schema_cache import SchemaCache, schema_cache

__all__ = ["SchemaCache", "schema_cache"]

warn_moved(__name__, "op_store.store.orm.schema_cache")
