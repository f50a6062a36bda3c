"""Query budgets of the ORM store, asserted with ``CaptureQueriesContext``.

Transaction-control statements (BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE) are counted apart
from the other statements, and statements on the schema table apart again. The tests run
with real commits (``transaction=True``) because the schema cache only learns on commit.
Run with ``-s`` to see the table of what each case costs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from op_store.store import DjangoOperationStore
from op_store.store.orm import admission_connections, schema_cache
from tests.support.stores import FULL, ROOT, U32, U32_REGISTRY, fresh_structs

pytestmark = pytest.mark.django_db(transaction=True)

_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Cost:
    statements: int  # everything but transaction control
    control: int  # BEGIN / COMMIT / ROLLBACK / SAVEPOINT / RELEASE SAVEPOINT
    schema: int  # statements touching op_store_schema

    @classmethod
    def of(cls, captured: CaptureQueriesContext) -> Cost:
        sqls = [q["sql"] for q in captured.captured_queries]
        control = [s for s in sqls if _CONTROL.match(s)]
        other = [s for s in sqls if not _CONTROL.match(s)]
        # A schema statement is one of its own; the seal's UPDATE carries EXISTS guards on the
        # schema table (index probes in the same statement), which do not count as one.
        schema = sum("op_store_schema" in s and "op_store_operation" not in s for s in other)
        return cls(len(other), len(control), schema)


def cost(fn, conn=None) -> Cost:
    with CaptureQueriesContext(conn or connection) as captured:
        fn()
    return Cost.of(captured)


REPORT: dict[str, Cost] = {}


def admission() -> int:
    """Statements of a fresh admission: PostgreSQL one (INSERT .. ON CONFLICT in a CTE); SQLite two
    (a SELECT first, because on SQLite even a conflicting INSERT commits with an fsync); MySQL two
    (a SELECT first, then INSERT IGNORE: a replay stays one plain read, docs/deployment.md)."""
    return 1 if connection.vendor == "postgresql" else 2


def check(name: str, fn, expected: Cost, conn=None) -> None:
    REPORT[name] = got = cost(fn, conn)
    print(f"{connection.vendor:<10} {name:<58} statements={got.statements} control={got.control} schema={got.schema}")
    assert got == expected, f"{name}: {got} != {expected}"


@pytest.fixture
def store():
    schema_cache.clear()
    store = DjangoOperationStore(scope="budget")
    store.seal(0, b"warm-up", ROOT, FULL)  # committed: the cache now knows the closure
    store.seal(1, b"warm-up", U32, U32_REGISTRY)
    yield store
    schema_cache.clear()


def test_fresh_admission_then_seal_with_known_schemas(store):
    adm = None

    def admit():
        nonlocal adm
        adm = store.try_admit(10, fingerprint=b"fp", method="POST /x", key="k")

    check("try_admit (fresh)", admit, Cost(admission(), 0, 0))
    assert adm.admitted
    check("seal_owned (known schemas)", lambda: store.seal_owned(10, adm.token, b"r" * 200, ROOT, FULL), Cost(1, 0, 0))


def test_replay_lookup(store):
    adm = store.try_admit(11, fingerprint=b"fp")
    store.seal_owned(11, adm.token, b"r" * 200, ROOT, FULL)
    check("try_admit (sealed: replay)", lambda: store.try_admit(11, fingerprint=b"fp"), Cost(1, 0, 0))
    check(
        "try_admit (fresh, then in flight)",
        lambda: store.try_admit(12) and store.try_admit(12),
        Cost(admission() + 1, 0, 0),
    )
    check("get_sealed", lambda: store.get_sealed(11), Cost(1, 0, 0))
    check("lookup", lambda: store.lookup(11), Cost(1, 0, 0))


def test_seal_bringing_five_new_schemas(store):
    root, registry = fresh_structs(5)
    adm = store.try_admit(13)
    check("seal_owned (5 new schemas)", lambda: store.seal_owned(13, adm.token, b"r", root, registry), Cost(2, 2, 1))
    adm = store.try_admit(14)
    check(
        "seal_owned (the same 5, now known)",
        lambda: store.seal_owned(14, adm.token, b"r", root, registry),
        Cost(1, 0, 0),
    )


def test_seal_inside_the_callers_transaction(store):
    root, registry = fresh_structs(5, base=0xA000)
    adm = store.try_admit(15)
    with transaction.atomic():
        check(
            "seal_owned in atomic (5 new schemas)",
            lambda: store.seal_owned(15, adm.token, b"r", root, registry),
            Cost(2, 0, 1),
        )
    adm = store.try_admit(16)
    with transaction.atomic():
        check(
            "seal_owned in atomic (known schemas)",
            lambda: store.seal_owned(16, adm.token, b"r", ROOT, FULL),
            Cost(1, 0, 0),
        )


def test_admission_inside_the_callers_transaction_uses_the_sibling(store):
    with transaction.atomic():
        sibling = admission_connections.sibling(connections["default"])
        check(
            "try_admit in atomic (on the sibling)", lambda: store.try_admit(17), Cost(admission(), 0, 0), conn=sibling
        )
        check("  ... on the caller's connection", lambda: store.try_admit(18), Cost(0, 0, 0))


def test_other_operations(store, clock=None):
    adm = store.try_admit(20)
    check("release", lambda: store.release(20, adm.token), Cost(1, 0, 0))
    check("admit (plain)", lambda: store.admit(21), Cost(admission(), 0, 0))
    check("seal (plain, admitted, known schemas)", lambda: store.seal(21, b"r", ROOT, FULL), Cost(1, 0, 0))
    check("seal (plain, never admitted, known schemas)", lambda: store.seal(22, b"r", ROOT, FULL), Cost(4, 0, 1))
    schema_cache.clear()
    adm = store.try_admit(23)
    check(
        "seal_owned (cold cache, schemas in the table)",
        lambda: store.seal_owned(23, adm.token, b"r", ROOT, FULL),
        Cost(2, 2, 1),
    )
