"""The atomic block a multi-statement write runs in; whose transaction a connection is in.

The rule for the latter (and the test-support hook :func:`ignore_atomic_blocks`) lives in
:mod:`op_store.store.transactions`, shared with the runner; it is re-exported here.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from op_store.store.transactions import (
    ignore_atomic_blocks,
    ignored_blocks,
    in_caller_transaction,
    inside_ignored_block,
)

__all__ = ["ignore_atomic_blocks", "ignored_blocks", "in_caller_transaction", "inside_ignored_block", "write_block"]


def write_block(conn: BaseDatabaseWrapper, caller_txn: bool) -> Any:
    """The atomic block a multi-statement write runs in: join the caller's, else our own."""
    if caller_txn:
        return transaction.atomic(using=conn.alias, savepoint=False)
    # Outside any transaction this is BEGIN/COMMIT; inside an ignored (test) block, a savepoint
    # that behaves like our own transaction would in production.
    return transaction.atomic(using=conn.alias, savepoint=conn.in_atomic_block)
