"""Moved to :mod:`op_store.store.orm.prepared`."""

from __future__ import annotations

from ._moved import warn_moved
from .orm.prepared import can_prepare, statement_cursor

__all__ = ["can_prepare", "statement_cursor"]

warn_moved(__name__, "op_store.store.orm.prepared")
