"""Services the RPC tests call, and the sites that serve them (mounted by tests/urls.py).

Every method that has an effect counts its runs twice: in the database (``Counter`` rows, which roll
back with the method's transaction) and in :data:`RUNS` (in-process, for live-server tests that run
the server in a thread of the test process). ``HOOKS[name]`` runs test code inside a method.
"""

from __future__ import annotations

import enum
import threading
import time
from collections import Counter as Tally
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import F
from django.urls import include, path

from op_store.lifecycle.scopes import shared_scope
from op_store.rpc import Service, UserError, rpc_method
from op_store.rpc.site import RpcSite
from op_store.store import InMemoryOperationStore
from op_store.vox import F64, I64, U8, U32, U64, Variant, VoxEnum
from tests.testapp.models import Counter, Row

RUNS: Tally[str] = Tally()
_runs_lock = threading.Lock()
HOOKS: dict[str, Callable[[Any], None]] = {}


def bump(name: str) -> None:
    """Count one run of ``name`` in the database and in :data:`RUNS`."""
    counter, _ = Counter.objects.get_or_create(name=name)
    Counter.objects.filter(pk=counter.pk).update(value=F("value") + 1)
    count_run(name)


def count_run(name: str) -> None:
    with _runs_lock:
        RUNS[name] += 1


def db_runs(name: str) -> int:
    counter = Counter.objects.filter(name=name).first()
    return 0 if counter is None else counter.value


def hook(name: str, service: Any) -> None:
    fn = HOOKS.get(name)
    if fn is not None:
        fn(service)


@dataclass(frozen=True)
class Balance:
    account: str
    amount: I64


class LedgerError(VoxEnum):
    UnknownAccount = Variant(str)
    InsufficientFunds = Variant(available=I64, requested=U64)


class Colour(enum.Enum):
    RED = 1
    GREEN = 2


class Shape(VoxEnum):
    Empty = Variant()
    Circle = Variant(F64)
    Segment = Variant(I64, I64)
    Rect = Variant(w=U32, h=U32)


@dataclass(frozen=True)
class Everything:
    """Many vox shapes in one value, for the JSON round trips."""

    flag: bool
    small: U8
    big: U64
    ratio: F64
    name: str
    data: bytes
    colour: Colour
    shape: Shape
    tags: list[str]
    scores: dict[str, I64]
    pair: tuple[str, U32]
    maybe: Balance | None
    nested: list[Balance] = field(default_factory=list)


LIMIT = 1000


class Bank(Service):
    """The main test service; its name on the wire is ``bank``."""

    @rpc_method(error=LedgerError)
    def transfer(self, from_: str, to: str, amount: U64) -> Balance:
        """Pretend to move ``amount``; fails with InsufficientFunds above 1000 (after writing a row)."""
        bump("transfer")
        hook("transfer", self)
        Row.objects.create(key=f"transfer:{from_}->{to}")
        if amount > LIMIT:
            raise UserError(LedgerError.InsufficientFunds(available=LIMIT, requested=amount))
        if from_ == "nobody":
            raise UserError(LedgerError.UnknownAccount(from_))
        return Balance(from_, LIMIT - amount)

    def deposit(self, account: str, amount: U64) -> Balance:
        """Shares its reply type with transfer (schemas must be stored once for both)."""
        bump("deposit")
        return Balance(account, amount)

    @rpc_method(idempotent=True)
    def balance(self, account: str) -> Balance:
        count_run("balance")
        return Balance(account, LIMIT)

    @rpc_method(atomic=False)
    def slow(self, seconds: F64, name: str = "slow") -> U32:
        """Sleeps, then counts in memory only (safe for concurrent calls on SQLite's shared test database)."""
        time.sleep(seconds)
        count_run(name)
        with _runs_lock:
            return RUNS[name]

    def boom(self, message: str) -> None:
        bump("boom")
        Row.objects.create(key="boom")
        raise RuntimeError(message)

    def big(self, size: U32) -> bytes:
        bump("big")
        return b"x" * size

    @rpc_method(idempotent=True)
    def echo(self, value: Everything) -> Everything:
        return value

    @rpc_method(idempotent=True)
    def nothing(self) -> None:
        count_run("nothing")

    def whoami(self) -> str:
        """The scope owner as the method sees it (the request is available to Service subclasses)."""
        bump("whoami")
        user = self.request.user
        return f"{user.username}:{self.operation_id}" if user.is_authenticated else f"anonymous:{self.operation_id}"

    @rpc_method(exposed=False)
    def helper_is_not_a_method(self) -> int:
        return 1


#: The ORM store and the default scope resolver (user or session).
site = RpcSite([Bank], name="rpc")

#: One in-memory store shared by every scope: concurrency on SQLite without its table locks.
MEMORY_STORE = InMemoryOperationStore()
memory_site = RpcSite([Bank], name="rpc_mem", store=lambda scope: MEMORY_STORE, scope=shared_scope, wait=10)

#: The ORM store in one shared scope (no login needed), waiting for in-flight duplicates.
shared_site = RpcSite([Bank], name="rpc_shared", scope=shared_scope, wait=10)

#: Mounted by tests/urls.py with ``include("tests.support.rpc_services")``.
urlpatterns = [
    path("rpc/", include(site.urls)),
    path("rpc-mem/", include(memory_site.urls)),
    path("rpc-shared/", include(shared_site.urls)),
]
