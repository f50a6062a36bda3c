"""Isolated stores for a test: the ORM store on a scope no other test uses, or an in-memory store.

:func:`isolated_scope` switches ``OP_STORE["SCOPE_RESOLVER"]`` with ``override_settings``: every
exactly-once view, the middleware and the RPC views that do not name their own ``scope=`` then
record their operations under a prefix unique to the test, so operations left by other tests (a
reused or shared test database, a live server) are never seen. See docs/testing.md.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from op_store.store.memory import InMemoryOperationStore

if TYPE_CHECKING:
    from django.http import HttpRequest

    from op_store.store.orm import DjangoOperationStore

__all__ = ["IsolatedScope", "MemoryStores", "isolated_scope"]


@dataclass(frozen=True)
class IsolatedScope:
    """The scope prefix one test runs under, and the stores to inspect what its requests recorded."""

    prefix: str

    def scope(self, resolved: str) -> str:
        """The stored scope of a request the configured resolver puts in ``resolved`` (``"user:1"``)."""
        return f"{self.prefix}{resolved}"

    def store(self, resolved: str) -> DjangoOperationStore:
        """The ORM store the views use for requests the configured resolver puts in ``resolved``."""
        from op_store.store.orm import DjangoOperationStore

        return DjangoOperationStore(scope=self.scope(resolved))


@contextmanager
def isolated_scope(prefix: str | None = None) -> Iterator[IsolatedScope]:
    """Prefix every resolved scope with ``prefix`` (default: ``"test-<random>:"``) inside the block.

    The resolver configured when the block starts still decides whose key it is (and may still
    refuse a request); only the stored scope changes.
    """
    from django.conf import settings
    from django.test import override_settings

    from op_store.conf import op_store_settings

    isolated = IsolatedScope(prefix if prefix is not None else f"test-{uuid.uuid4().hex[:12]}:")
    resolver: Callable[[HttpRequest], str] = op_store_settings.SCOPE_RESOLVER

    def resolve(request: HttpRequest) -> str:
        return isolated.scope(resolver(request))

    current: dict[str, Any] = dict(getattr(settings, "OP_STORE", {}) or {})
    with override_settings(OP_STORE={**current, "SCOPE_RESOLVER": resolve}):
        yield isolated


class MemoryStores:
    """A store factory for ``exactly_once(store=...)`` and ``RpcSite(store=...)``: one
    :class:`~op_store.store.InMemoryOperationStore` per scope, all on one clock.

    For views and sites built in the test (or given the factory by your code): the default store of
    every other view is the ORM store.
    """

    def __init__(self, clock: Callable[[], Any] | None = None) -> None:
        self.clock = clock
        self.by_scope: dict[str, InMemoryOperationStore] = {}
        self._lock = threading.Lock()

    def __call__(self, scope: str) -> InMemoryOperationStore:
        with self._lock:
            store = self.by_scope.get(scope)
            if store is None:
                store = self.by_scope[scope] = InMemoryOperationStore(self.clock)
            return store
