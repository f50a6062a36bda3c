"""Moved to :mod:`op_store.store.orm` (the sibling connection's owner is in ``.siblings``)."""

from __future__ import annotations

from ._moved import warn_moved
from .orm import ADMISSION_ALIAS_SUFFIX, ADMISSION_LOCK_TIMEOUT, admission_isolation, close_admission_connections

__all__ = ["ADMISSION_ALIAS_SUFFIX", "ADMISSION_LOCK_TIMEOUT", "admission_isolation", "close_admission_connections"]

warn_moved(__name__, "op_store.store.orm")
