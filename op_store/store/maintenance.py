"""Moved to :mod:`op_store.store.orm` (``purge``, ``release_stale``, ``stats``)."""

from __future__ import annotations

from ._moved import warn_moved
from .orm import purge, release_stale, stats

__all__ = ["purge", "release_stale", "stats"]

warn_moved(__name__, "op_store.store.orm")
