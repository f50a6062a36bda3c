"""The sibling connection: admissions commit on their own, apart from the caller's transaction.

Kept apart from the store because it is connection management (per-thread private connections,
their lifetime across requests, the lock timeout), not the store's SQL. See "Admission commits on
its own" in :mod:`op_store.store.orm` for why and where it cannot hold.
"""

from __future__ import annotations

import copy
import logging
import threading
from dataclasses import dataclass
from typing import Any

from django.core.signals import request_finished, request_started, setting_changed
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.db.utils import load_backend

from .alias import _DATABASE_SETTINGS, _db_key, store_alias

logger = logging.getLogger("op_store")

ADMISSION_ALIAS_SUFFIX = "__op_store_admit"
#: PostgreSQL ``lock_timeout`` of the sibling connection (a wait on one's own transaction ends).
ADMISSION_LOCK_TIMEOUT = "10s"


# --- transactions -------------------------------------------------------------------------------


def _in_caller_transaction(conn: BaseDatabaseWrapper) -> bool:
    """Whether ``conn`` is inside a transaction the caller opened (``TestCase``'s own blocks aside)."""
    if conn.in_atomic_block:
        return any(not getattr(block, "_from_testcase", False) for block in conn.atomic_blocks)
    return not conn.get_autocommit()


def _inside_testcase(conn: BaseDatabaseWrapper) -> bool:
    """Whether the outermost transaction is a ``TestCase``'s (it never commits)."""
    blocks = conn.atomic_blocks
    return bool(conn.in_atomic_block and blocks and getattr(blocks[0], "_from_testcase", False))


# --- the sibling connection ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Isolation:
    possible: bool
    reason: str = ""


_isolation_lock = threading.Lock()
_isolation_cache: dict[tuple[str, ...], _Isolation] = {}
_warned: set[tuple[str, ...]] = set()
_siblings = threading.local()


def _static_isolation(conn: BaseDatabaseWrapper) -> _Isolation | None:
    """What the settings alone say about isolating admissions on ``conn``'s database."""
    if conn.vendor != "sqlite":
        return _Isolation(True)
    name = str(conn.settings_dict["NAME"] or ":memory:")
    if name == ":memory:" or ("mode=memory" in name and "cache=shared" not in name):
        return _Isolation(False, "SQLite private in-memory database: another connection would not see it")
    mode = str(conn.settings_dict.get("OPTIONS", {}).get("transaction_mode") or "").upper()
    if mode in ("IMMEDIATE", "EXCLUSIVE"):
        return _Isolation(False, f"SQLite transaction_mode {mode}: the caller's transaction holds the write lock")
    if "mode=memory" in name:
        return _Isolation(True)  # shared-cache in-memory (test databases)
    return None  # a file: depends on the journal mode


def admission_isolation(using: str | None = None) -> _Isolation:
    """Whether admissions on this alias can commit apart from the caller's transaction, and why not."""
    return _isolation_of(connections[store_alias(using)])


def _isolation_of(conn: BaseDatabaseWrapper) -> _Isolation:
    key = _db_key(conn)
    found = _isolation_cache.get(key)
    if found is not None:
        return found
    found = _static_isolation(conn)
    if found is None:
        sibling = _sibling(conn)
        try:
            with sibling.cursor() as cursor:
                cursor.execute("PRAGMA journal_mode")
                row = cursor.fetchone()
            journal = str(row[0] if row else "").lower()
        finally:
            _after_sibling_use(sibling)
        found = (
            _Isolation(True)
            if journal == "wal"
            else _Isolation(False, f"SQLite journal_mode {journal or '?'} (not WAL): readers block the writer")
        )
    with _isolation_lock:
        _isolation_cache[key] = found
    return found


def _sibling(conn: BaseDatabaseWrapper) -> BaseDatabaseWrapper:
    """This thread's private connection to ``conn``'s database (created lazily)."""
    siblings: dict[str, BaseDatabaseWrapper] = _siblings.__dict__.setdefault("by_alias", {})
    sibling = siblings.get(conn.alias)
    if sibling is not None and _db_key(sibling)[1:] != _db_key(conn)[1:]:
        sibling.close()  # the alias now points elsewhere (a test database, override_settings)
        sibling = None
    if sibling is None:
        settings_dict = copy.deepcopy(conn.settings_dict)
        backend = load_backend(settings_dict["ENGINE"])
        sibling = backend.DatabaseWrapper(settings_dict, f"{conn.alias}{ADMISSION_ALIAS_SUFFIX}")
        siblings[conn.alias] = sibling
    return sibling


def _after_sibling_use(sibling: BaseDatabaseWrapper) -> None:
    """With ``CONN_MAX_AGE = 0``, close the sibling unless a request is running on this thread (then
    it is closed at ``request_finished``, like Django's own connections): one connection per request
    at most, and none left open outside requests (a test database can then always be dropped)."""
    if sibling.settings_dict.get("CONN_MAX_AGE") == 0 and not getattr(_siblings, "in_request", False):
        sibling.close()


def close_admission_connections() -> None:
    """Close this thread's sibling connections (threads that admitted should call it at exit)."""
    siblings: dict[str, BaseDatabaseWrapper] = _siblings.__dict__.get("by_alias", {})
    for sibling in siblings.values():
        sibling.close()
    siblings.clear()


def _admission_connection(alias: str) -> BaseDatabaseWrapper:
    """The connection an admission runs on: the alias's own, or its sibling (see module docstring)."""
    conn = connections[alias]
    if _inside_testcase(conn) or not _in_caller_transaction(conn):
        # In a TestCase everything must roll back with the test: a committed admission on another
        # connection would leak into the next test (and could not see the test's rows).
        return conn
    isolation = admission_isolation(alias)
    if isolation.possible:
        return _sibling(conn)
    key = _db_key(conn)
    if key not in _warned:
        _warned.add(key)
        logger.warning(
            "op_store: admissions on database %r run inside the caller's transaction (%s); concurrent "
            "duplicates wait for it instead of seeing the operation in flight",
            alias,
            isolation.reason,
        )
    return conn


def _on_connection_created(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    if connection.alias.endswith(ADMISSION_ALIAS_SUFFIX) and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = '{ADMISSION_LOCK_TIMEOUT}'")


def _close_obsolete_siblings() -> None:
    siblings: dict[str, BaseDatabaseWrapper] = _siblings.__dict__.get("by_alias", {})
    for sibling in siblings.values():
        sibling.close_if_unusable_or_obsolete()


def _request_started(**kwargs: Any) -> None:
    _close_obsolete_siblings()
    _siblings.in_request = True


def _request_finished(**kwargs: Any) -> None:
    _siblings.in_request = False
    _close_obsolete_siblings()


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in _DATABASE_SETTINGS:
        with _isolation_lock:
            _isolation_cache.clear()
        close_admission_connections()


connection_created.connect(_on_connection_created, dispatch_uid="op_store.sibling_lock_timeout")
request_started.connect(_request_started, dispatch_uid="op_store.close_siblings_start")
request_finished.connect(_request_finished, dispatch_uid="op_store.close_siblings_finish")
setting_changed.connect(_on_setting_changed, dispatch_uid="op_store.admission_settings")
