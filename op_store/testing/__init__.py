"""Helpers to test views, middleware and RPC sites that use op_store: docs/testing.md.

- :func:`ignore_test_case_transactions`: Django's ``TestCase`` runs each test inside a transaction
  that never commits. To the runner that would look like a request made inside the caller's own
  transaction, so every keyed request would run (and be recorded) as transactional. Called once
  before the tests run (the pytest plugin and :class:`OpStoreTestMixin` do it), it makes requests
  under ``TestCase`` behave as they do in production.
- :class:`FakeClock`, :func:`frozen_time`: leases and retention run out without sleeping.
- :func:`isolated_scope`, :class:`MemoryStores`: a store no other test writes to.
- :func:`in_flight`, :func:`concurrently`: duplicates that meet an operation in flight.
- :func:`crash_after_admission`: the state a worker killed after its admission leaves.

The pytest fixtures live in :mod:`op_store.testing.pytest_plugin` (loaded automatically once
op-store is installed); :class:`OpStoreTestMixin` offers the same to ``unittest`` test cases.
"""

from __future__ import annotations

from op_store import _compat
from op_store.store.transactions import ignore_atomic_blocks

from .clock import FakeClock, frozen_time
from .crashes import CrashedRequest, SimulatedCrash, crash_after_admission
from .races import HeldRequest, concurrently, in_flight
from .stores import IsolatedScope, MemoryStores, isolated_scope
from .testcases import OpStoreTestMixin

__all__ = [
    "CrashedRequest",
    "FakeClock",
    "HeldRequest",
    "IsolatedScope",
    "MemoryStores",
    "OpStoreTestMixin",
    "SimulatedCrash",
    "concurrently",
    "crash_after_admission",
    "frozen_time",
    "ignore_test_case_transactions",
    "in_flight",
    "isolated_scope",
]


def ignore_test_case_transactions() -> None:
    """Let the runner ignore the transaction ``TestCase`` wraps each test in (calling it again is harmless)."""
    ignore_atomic_blocks(_compat.opened_by_test_case)
