"""Moved to :mod:`op_store.store.orm.alias` (``store_alias`` is also ``op_store.store.store_alias``)."""

from __future__ import annotations

from ._moved import warn_moved
from .orm.alias import store_alias

__all__ = ["store_alias"]

warn_moved(__name__, "op_store.store.orm.alias")
