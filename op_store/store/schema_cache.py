"""The schema cache: which schema hashes are known to be stored, so a seal can skip writing them.

A per-process hint with its own invalidation (commit-only fills, signals); see "Schema cache" in
:mod:`op_store.store.orm` for why it can never make a seal skip a schema missing from the table.
"""

from __future__ import annotations

import threading
from collections.abc import Container, Iterable
from typing import Any

from django.core.signals import setting_changed
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.signals import post_migrate

from .alias import _DATABASE_SETTINGS, _db_key


class SchemaCache:
    """Schema hashes known to be stored, per database (a hint; see :mod:`op_store.store.orm`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[tuple[str, ...], frozenset[int]] = {}

    key = staticmethod(_db_key)

    def known(self, key: tuple[str, ...]) -> frozenset[int]:
        return self._known.get(key, frozenset())

    def add(self, key: tuple[str, ...], ids: Iterable[int]) -> None:
        with self._lock:  # copy-on-write: readers never see a set being resized
            self._known[key] = self._known.get(key, frozenset()) | frozenset(ids)

    def add_on_commit(self, conn: BaseDatabaseWrapper, ids: Iterable[int]) -> None:
        """Remember ``ids`` once the current transaction on ``conn`` commits (never on rollback)."""
        key, frozen = self.key(conn), frozenset(ids)

        def committed() -> None:
            # captureOnCommitCallbacks(execute=True) runs callbacks inside the test transaction,
            # which will roll back: nothing is known to be stored then.
            if not conn.in_atomic_block:
                self.add(key, frozen)

        transaction.on_commit(committed, using=conn.alias)

    def forget(self, key: tuple[str, ...]) -> None:
        with self._lock:
            self._known.pop(key, None)

    def clear(self, **kwargs: Any) -> None:
        with self._lock:
            self._known.clear()


schema_cache = SchemaCache()


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in _DATABASE_SETTINGS:
        schema_cache.clear()


post_migrate.connect(schema_cache.clear, dispatch_uid="op_store.schema_cache_post_migrate")
setting_changed.connect(_on_setting_changed, dispatch_uid="op_store.schema_cache_settings")


class _KnownTracker:
    """``known`` for :func:`seal_closure` that records which known hashes the walk relied on."""

    __slots__ = ("hits", "known")

    def __init__(self, known: Container[int]) -> None:
        self.known = known
        self.hits: set[int] = set()

    def __contains__(self, schema_id: object) -> bool:
        if schema_id in self.known:
            self.hits.add(schema_id)  # type: ignore[arg-type]
            return True
        return False
