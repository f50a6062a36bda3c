"""The schema cache: which schema hashes are known to be stored, so a seal can skip writing them.

A per-process hint, filled only when a seal's transaction commits and emptied whenever the table
may have lost rows: ``post_migrate`` (migrate and flush), op_store's ``schemas_deleted`` (sent by
:mod:`op_store.models` when schemas are deleted through the ORM) and a change of the database
settings. See "Schema cache" in :mod:`op_store.store.orm` for why it can never make a seal skip
a schema missing from the table.
"""

from __future__ import annotations

import threading
from collections.abc import Container, Iterable
from typing import Any

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.signals import post_migrate

from op_store.conf import DATABASE_SETTINGS, reset_on_change
from op_store.models import schemas_deleted

from .alias import DatabaseKey, database_key

__all__ = ["KnownTracker", "SchemaCache", "schema_cache"]


class SchemaCache:
    """Schema hashes known to be stored, per database."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[DatabaseKey, frozenset[int]] = {}

    key = staticmethod(database_key)

    def known(self, key: DatabaseKey) -> frozenset[int]:
        return self._known.get(key, frozenset())

    def add(self, key: DatabaseKey, ids: Iterable[int]) -> None:
        with self._lock:  # copy-on-write: readers never see a set being resized
            self._known[key] = self._known.get(key, frozenset()) | frozenset(ids)

    def add_on_commit(self, conn: BaseDatabaseWrapper, ids: Iterable[int]) -> None:
        """Remember ``ids`` once the current transaction on ``conn`` commits (never on rollback)."""
        key, frozen = self.key(conn), frozenset(ids)

        def committed() -> None:
            # A callback run while a transaction is still open (a test's captured on-commit
            # callbacks, run inside its transaction) has not seen a commit: learn nothing.
            if not conn.in_atomic_block:
                self.add(key, frozen)

        transaction.on_commit(committed, using=conn.alias)

    def forget(self, key: DatabaseKey) -> None:
        with self._lock:
            self._known.pop(key, None)

    def clear(self, **kwargs: Any) -> None:
        """Forget everything (also a signal receiver, hence ``**kwargs``)."""
        with self._lock:
            self._known.clear()


schema_cache = SchemaCache()

post_migrate.connect(schema_cache.clear, dispatch_uid="op_store.schema_cache_post_migrate")
schemas_deleted.connect(schema_cache.clear, dispatch_uid="op_store.schema_cache_deleted")
reset_on_change(*DATABASE_SETTINGS)(schema_cache.clear)


class KnownTracker:
    """``known`` for a seal's closure walk that records which known hashes the walk relied on."""

    __slots__ = ("hits", "known")

    def __init__(self, known: Container[int]) -> None:
        self.known = known
        self.hits: set[int] = set()

    def __contains__(self, schema_id: object) -> bool:
        if schema_id in self.known:
            self.hits.add(schema_id)  # type: ignore[arg-type]
            return True
        return False
