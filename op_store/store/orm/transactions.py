"""Whose transaction a connection is in, and the atomic block a multi-statement write runs in.

A test framework whose outermost atomic blocks never commit (they roll back after each test) would
make every admission look like one inside a caller's transaction. :func:`ignore_atomic_blocks` lets it
say which blocks are its own: the store then behaves as if they were not there (admissions run in
the test transaction and roll back with the test). Production code never calls it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

__all__ = ["ignore_atomic_blocks", "in_caller_transaction", "inside_ignored_block", "write_block"]

#: ``predicate(atomic_block) -> bool``: blocks that are not the caller's (None: every block is).
_ignored: Callable[[Any], bool] | None = None


def ignore_atomic_blocks(predicate: Callable[[Any], bool] | None) -> None:
    """Treat the atomic blocks for which ``predicate`` is true as absent (None: treat none so).

    For test support only (``op_store.testing`` or a project's ``conftest.py``); see the module
    docstring.
    """
    global _ignored
    _ignored = predicate


def in_caller_transaction(conn: BaseDatabaseWrapper) -> bool:
    """Whether ``conn`` is inside a transaction its caller opened (ignored blocks aside)."""
    if conn.in_atomic_block:
        ignored = _ignored
        if ignored is None:
            return True
        return any(not ignored(block) for block in conn.atomic_blocks)
    return not conn.get_autocommit()


def inside_ignored_block(conn: BaseDatabaseWrapper) -> bool:
    """Whether the outermost transaction on ``conn`` is an ignored block (it never commits)."""
    ignored = _ignored
    blocks = conn.atomic_blocks
    return bool(ignored is not None and conn.in_atomic_block and blocks and ignored(blocks[0]))


def write_block(conn: BaseDatabaseWrapper, caller_txn: bool) -> Any:
    """The atomic block a multi-statement write runs in: join the caller's, else our own."""
    if caller_txn:
        return transaction.atomic(using=conn.alias, savepoint=False)
    # Outside any transaction this is BEGIN/COMMIT; inside an ignored (test) block, a savepoint
    # that behaves like our own transaction would in production.
    return transaction.atomic(using=conn.alias, savepoint=conn.in_atomic_block)
