"""pytest fixtures for testing exactly-once views; registered as the ``op_store`` plugin (a
``pytest11`` entry point), so installing op-store is enough.

Loading it calls :func:`~op_store.testing.ignore_test_case_transactions`. Every fixture's name
starts with ``op_store_`` so none shadows one of yours. With plugin autoloading off
(``PYTEST_DISABLE_PLUGIN_AUTOLOAD``), load it with ``-p op_store.testing.pytest_plugin``.
See docs/testing.md.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from op_store.store.memory import InMemoryOperationStore

from . import FakeClock, IsolatedScope, MemoryStores, frozen_time, ignore_test_case_transactions, isolated_scope


def pytest_configure(config: pytest.Config) -> None:
    # Requests made inside a test's TestCase transaction run as they would in production.
    ignore_test_case_transactions()


@pytest.fixture
def op_store_clock() -> Iterator[FakeClock]:
    """A :class:`~op_store.testing.FakeClock` that ``django.utils.timezone.now`` answers for this test."""
    with frozen_time() as clock:
        yield clock


@pytest.fixture
def op_store_scope() -> Iterator[IsolatedScope]:
    """Every request's scope prefixed with one unique to this test (``OP_STORE["SCOPE_RESOLVER"]``)."""
    with isolated_scope() as scope:
        yield scope


@pytest.fixture
def op_store_memory_store(op_store_clock: FakeClock) -> InMemoryOperationStore:
    """An empty :class:`~op_store.store.InMemoryOperationStore` on :func:`op_store_clock`."""
    return InMemoryOperationStore(op_store_clock)


@pytest.fixture
def op_store_memory_stores(op_store_clock: FakeClock) -> MemoryStores:
    """A store factory for ``exactly_once(store=...)``: one in-memory store per scope, on :func:`op_store_clock`."""
    return MemoryStores(op_store_clock)
