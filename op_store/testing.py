"""Support for testing projects that use op_store.

Django's ``TestCase`` runs each test inside a transaction that never commits. To the runner that
would look like a request made inside the caller's own transaction, so every keyed request would run
(and be recorded) as transactional. :func:`ignore_test_case_transactions`, called once before the
tests run (for example in ``conftest.py``), makes requests under ``TestCase`` behave as they do in
production.
"""

from __future__ import annotations

from op_store import _compat
from op_store.store.transactions import ignore_atomic_blocks


def ignore_test_case_transactions() -> None:
    """Let the runner ignore the transaction ``TestCase`` wraps each test in (calling it again is harmless)."""
    ignore_atomic_blocks(_compat.opened_by_test_case)
