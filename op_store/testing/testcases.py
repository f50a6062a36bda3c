"""The helpers of :mod:`op_store.testing` for ``unittest`` test cases (Django's ``TestCase`` family)."""

from __future__ import annotations

from typing import Any

from .clock import FakeClock, frozen_time
from .stores import IsolatedScope, MemoryStores, isolated_scope


class OpStoreTestMixin:
    """Mix into a Django ``TestCase``/``TransactionTestCase``: requests run as in production, and
    each helper is undone when the test ends (``enterContext``, Python 3.11+).

    Without the pytest plugin nothing else calls :func:`~op_store.testing.ignore_test_case_transactions`,
    so ``setUpClass`` does.
    """

    @classmethod
    def setUpClass(cls) -> None:
        from . import ignore_test_case_transactions

        ignore_test_case_transactions()
        super().setUpClass()  # type: ignore[misc]

    def _enter(self, context: Any) -> Any:
        return self.enterContext(context)  # type: ignore[attr-defined]

    def freeze_time(self, clock: FakeClock | None = None) -> FakeClock:
        """:func:`~op_store.testing.frozen_time` for the rest of the test."""
        result: FakeClock = self._enter(frozen_time(clock))
        return result

    def isolate_scope(self, prefix: str | None = None) -> IsolatedScope:
        """:func:`~op_store.testing.isolated_scope` for the rest of the test."""
        result: IsolatedScope = self._enter(isolated_scope(prefix))
        return result

    def memory_stores(self, clock: FakeClock | None = None) -> MemoryStores:
        """A :class:`~op_store.testing.MemoryStores` factory on ``clock`` (or the real time)."""
        return MemoryStores(clock)
