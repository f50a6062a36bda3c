"""Whose transaction a connection is in: the one rule the ORM store and the runner share.

A test framework whose outermost atomic blocks never commit (Django's ``TestCase`` rolls them back
after each test) would make every admission and every request look like one inside a caller's
transaction. :func:`ignore_atomic_blocks` lets it say which blocks are its own: the store and the
runner then behave as if those blocks were not there. Production code never calls it;
:func:`op_store.testing.ignore_test_case_transactions` does, for test suites.

Imports Django (unlike ``op_store.store.base`` and ``op_store.store.memory``); it is not imported by
``op_store.store`` itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

from op_store import _compat

__all__ = ["ignore_atomic_blocks", "in_caller_transaction", "inside_ignored_block"]

#: ``predicate(atomic_block) -> bool``: blocks that are not the caller's (None: every block is).
_ignored: Callable[[Any], bool] | None = None


def ignore_atomic_blocks(predicate: Callable[[Any], bool] | None) -> None:
    """Treat the atomic blocks for which ``predicate`` is true as absent (None: treat none so)."""
    global _ignored
    _ignored = predicate


def ignored_blocks() -> Callable[[Any], bool] | None:
    """The predicate installed by :func:`ignore_atomic_blocks` (to restore it after a test)."""
    return _ignored


def in_caller_transaction(conn: BaseDatabaseWrapper) -> bool:
    """Whether ``conn`` is inside a transaction its caller opened (ignored blocks aside)."""
    if conn.in_atomic_block:
        ignored = _ignored
        if ignored is None:
            return True
        return any(not ignored(block) for block in _compat.open_atomic_blocks(conn.alias))
    return not _compat.autocommit(conn)


def inside_ignored_block(conn: BaseDatabaseWrapper) -> bool:
    """Whether the outermost transaction on ``conn`` is an ignored block (it never commits)."""
    ignored = _ignored
    if ignored is None or not conn.in_atomic_block:
        return False
    blocks = _compat.open_atomic_blocks(conn.alias)
    return bool(blocks and ignored(blocks[0]))
