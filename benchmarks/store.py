"""The operation stores: a full admit -> seal -> get_sealed cycle, the replay lookup, and purge.

Per database alias (``sqlite``, and ``postgres`` when it is reachable), three implementations run
interleaved in the same rounds:

- ``django``: ``DjangoOperationStore`` (try_admit, seal_owned with already-stored schemas, get_sealed);
- ``memory``: ``InMemoryOperationStore`` (the same calls; no database at all);
- ``raw``: the floor, hand-written SQL through the DB driver directly (sqlite3 / psycopg): a committed
  INSERT, a committed UPDATE writing a ~200-byte reply, and a SELECT of it.

Statements per cycle (``CaptureQueriesContext``) are reported next to the times. The admission
inside a caller's ``atomic()`` block (on the sibling connection) is measured too, with
``CONN_MAX_AGE = 0`` (a connection per admission) and with a persistent sibling.

Purge: N sealed operations past retention (100k; 10k with ``--quick``) are expired into tombstones
and then deleted, in batches of ``PURGE_BATCH_SIZE``: total time, rows per second, the longest single
transaction, and the peak Python memory of the expire phase (tracemalloc, on a second data set so
that its overhead does not distort the timing).
"""

from __future__ import annotations

import itertools
import sqlite3
import tracemalloc
from collections.abc import Callable
from datetime import timedelta
from time import perf_counter
from typing import Any

from .harness import Row, measure, timing_rows

REPLY = bytes(range(200))


def _schemas() -> tuple[Any, Any]:
    from op_store.vox.schema import (
        Concrete,
        FieldSchema,
        PrimitiveKind,
        PrimitiveType,
        Schema,
        SchemaRegistry,
        StructKind,
    )

    u16 = Schema(0xB0_0001, PrimitiveKind(PrimitiveType.U16))
    raw = Schema(0xB0_0002, PrimitiveKind(PrimitiveType.BYTES))
    reply = Schema(
        0xB0_0003,
        StructKind("HttpReply", (FieldSchema("status", Concrete(u16.id)), FieldSchema("body", Concrete(raw.id)))),
    )
    return Concrete(reply.id), SchemaRegistry([u16, raw, reply])


class RawBaseline:
    """The same three statements through the driver, each committed (autocommit)."""

    def __init__(self, alias: str) -> None:
        from django.db import connections

        settings_dict = connections[alias].settings_dict
        self.vendor = connections[alias].vendor
        if self.vendor == "sqlite":
            self.conn: Any = sqlite3.connect(settings_dict["NAME"], isolation_level=None)
            self.mark = "?"
        else:
            import psycopg

            self.conn = psycopg.connect(
                dbname=settings_dict["NAME"],
                host=settings_dict["HOST"],
                port=settings_dict["PORT"],
                user=settings_dict["USER"],
                autocommit=True,
            )
            self.mark = "%s"
        m = self.mark
        self.insert = (
            "INSERT INTO op_store_operation (scope, operation_id, state, method, key, token, transactional, "
            f"created_at, lease_expires_at) VALUES ({m}, {m}, 'admitted', '', '', {m}, FALSE, {m}, {m})"
        )
        self.update = (
            f"UPDATE op_store_operation SET state = 'sealed', response = {m}, response_size = {m} "
            f"WHERE scope = {m} AND operation_id = {m} AND state = 'admitted' AND token = {m}"
        )
        self.select = f"SELECT state, response FROM op_store_operation WHERE scope = {m} AND operation_id = {m}"

    def _now(self) -> Any:
        from django.utils import timezone

        now = timezone.now()
        return now.strftime("%Y-%m-%d %H:%M:%S.%f") if self.vendor == "sqlite" else now

    def cycle(self, operation_id: int) -> bytes:
        now = self._now()
        cur = self.conn.cursor()
        cur.execute(self.insert, ("raw", operation_id, 12345, now, now))
        cur.execute(self.update, (REPLY, len(REPLY), "raw", operation_id, 12345))
        cur.execute(self.select, ("raw", operation_id))
        return bytes(cur.fetchone()[1])

    def replay(self, operation_id: int) -> bytes:
        cur = self.conn.cursor()
        cur.execute(self.select, ("raw", operation_id))
        return bytes(cur.fetchone()[1])

    def close(self) -> None:
        self.conn.close()


def _statements(alias: str, fn: Callable[[], object]) -> tuple[int, int]:
    """(statements, transaction-control statements) one call of ``fn`` issues on ``alias``."""
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connections[alias]) as captured:
        fn()
    sqls = [q["sql"].lstrip().upper() for q in captured.captured_queries]
    control = sum(s.startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")) for s in sqls)
    return len(sqls) - control, control


def _cycles(alias: str, quick: bool) -> list[Row]:
    from op_store.store import DjangoOperationStore, InMemoryOperationStore

    root, registry = _schemas()
    django_store = DjangoOperationStore(scope=f"bench-{alias}", using=alias)
    memory_store = InMemoryOperationStore()
    raw = RawBaseline(alias)
    ids = itertools.count(1)

    def django_cycle() -> object:
        op = next(ids)
        adm = django_store.try_admit(op, fingerprint=b"POST /pay 1234")
        django_store.seal_owned(op, adm.token, REPLY, root, registry, status_code=201)  # type: ignore[arg-type]
        return django_store.get_sealed(op)

    def memory_cycle() -> object:
        op = next(ids)
        adm = memory_store.try_admit(op, fingerprint=b"POST /pay 1234")
        memory_store.seal_owned(op, adm.token, REPLY, root, registry, status_code=201)  # type: ignore[arg-type]
        return memory_store.get_sealed(op)

    def raw_cycle() -> object:
        return raw.cycle(next(ids))

    rounds, block = (3, 30) if quick else (7, 100)
    rows: list[Row] = []
    try:
        medians = measure(
            {"raw": raw_cycle, "django": django_cycle, "memory": memory_cycle}, rounds=rounds, block=block
        )
        rows += timing_rows(
            f"store/{alias}",
            {f"admit+seal+get cycle: {k}": v for k, v in medians.items()},
            baseline="admit+seal+get cycle: raw",
        )
        for name, fn in (("django", django_cycle), ("raw (by construction)", raw_cycle)):
            statements, control = _statements(alias, fn) if name == "django" else (3, 0)
            rows.append(
                {
                    "group": f"store/{alias}",
                    "name": f"statements per cycle: {name}",
                    "value": statements,
                    "unit": "stmts",
                    "note": f"+{control} transaction control",
                }
            )

        replay_id = next(ids)
        adm = django_store.try_admit(replay_id, fingerprint=b"fp")
        django_store.seal_owned(replay_id, adm.token, REPLY, root, registry)  # type: ignore[arg-type]
        adm = memory_store.try_admit(replay_id, fingerprint=b"fp")
        memory_store.seal_owned(replay_id, adm.token, REPLY, root, registry)  # type: ignore[arg-type]
        raw.cycle(replay_id)
        medians = measure(
            {
                "raw": lambda: raw.replay(replay_id),
                "django": lambda: django_store.try_admit(replay_id, fingerprint=b"fp"),
                "memory": lambda: memory_store.try_admit(replay_id, fingerprint=b"fp"),
            },
            rounds=rounds,
            block=block * 3,
        )
        rows += timing_rows(
            f"store/{alias}", {f"replay lookup: {k}": v for k, v in medians.items()}, baseline="replay lookup: raw"
        )
        statements, control = _statements(alias, lambda: django_store.try_admit(replay_id, fingerprint=b"fp"))
        rows.append(
            {
                "group": f"store/{alias}",
                "name": "statements per replay: django",
                "value": statements,
                "unit": "stmts",
                "note": f"+{control} transaction control",
            }
        )

    finally:
        raw.close()
    rows += _admissions_in_atomic(alias, django_store, ids, rounds, block)
    return rows


def _admissions_in_atomic(alias: str, store: Any, ids: itertools.count[int], rounds: int, block: int) -> list[Row]:
    """A fresh try_admit in autocommit vs inside ``atomic()`` (on the sibling connection)."""
    from django.db import connections, transaction

    from op_store.store import orm

    conn = connections[alias]
    journal = None
    if conn.vendor == "sqlite":  # the sibling needs WAL on an SQLite file; restore the mode after
        with conn.cursor() as cursor:
            journal = cursor.execute("PRAGMA journal_mode").fetchone()[0]
            cursor.execute("PRAGMA journal_mode=WAL")
        orm._isolation_cache.clear()
    sibling = orm._sibling(conn)

    def admit_in_atomic() -> object:
        with transaction.atomic(using=alias):
            return store.try_admit(next(ids))

    def admit_plain() -> object:
        return store.try_admit(next(ids))

    try:
        sibling.settings_dict["CONN_MAX_AGE"] = 0
        medians = measure(
            {"autocommit": admit_plain, "in atomic, sibling reconnecting": admit_in_atomic},
            rounds=rounds,
            block=max(block // 3, 5),
        )
        sibling.settings_dict["CONN_MAX_AGE"] = None
        medians["in atomic, persistent sibling"] = measure({"x": admit_in_atomic}, rounds=rounds, block=block)["x"]
    finally:
        sibling.close()
        if journal is not None:
            with conn.cursor() as cursor:
                cursor.execute(f"PRAGMA journal_mode={journal}")
            orm._isolation_cache.clear()
    return timing_rows(
        f"store/{alias}",
        {f"try_admit {k}": v for k, v in medians.items()},
        baseline="try_admit autocommit",
        note="fresh id",
    )


def _insert_expired(alias: str, n: int, scope: str) -> None:
    from django.utils import timezone

    from op_store.models import Operation

    long_ago = timezone.now() - timedelta(days=30)
    batch = []
    for i in range(n):
        batch.append(
            Operation(
                scope=scope,
                operation_id=i,
                state="sealed",
                token=1,
                response=REPLY,
                root_type={"tag": "concrete", "type_id": "0000000000b00003"},
                response_size=len(REPLY),
                created_at=long_ago,
                sealed_at=long_ago,
                expires_at=long_ago,
            )
        )
        if len(batch) == 5000:
            Operation.objects.using(alias).bulk_create(batch)
            batch = []
    if batch:
        Operation.objects.using(alias).bulk_create(batch)


def _purge(alias: str, quick: bool) -> list[Row]:
    from django.utils import timezone

    from op_store.conf import op_store_settings
    from op_store.models import Operation
    from op_store.store.orm import purge

    n = 10_000 if quick else 100_000
    group = f"purge/{alias}"
    Operation.objects.using(alias).filter(scope__startswith="purge").delete()
    _insert_expired(alias, n, "purge-a")
    now = timezone.now()
    expire = purge(using=alias, now=now)
    delete = purge(using=alias, now=now + op_store_settings.TOMBSTONE_RETENTION + timedelta(days=1))
    assert expire.expired == n and delete.deleted == n, (expire, delete)

    _insert_expired(alias, n, "purge-b")
    tracemalloc.start()
    started = perf_counter()
    traced = purge(using=alias, now=now)
    traced_time = perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    purge(using=alias, now=now + op_store_settings.TOMBSTONE_RETENTION + timedelta(days=1))
    batch = op_store_settings.PURGE_BATCH_SIZE
    return [
        {
            "group": group,
            "name": f"expire {n:,} sealed -> tombstones",
            "value": expire.duration,
            "unit": "s",
            "note": f"{expire.batches} batches of {batch}",
        },
        {"group": group, "name": "  rows per second", "value": n / expire.duration, "unit": "rows/s"},
        {
            "group": group,
            "name": "  longest single transaction",
            "value": expire.longest_transaction * 1000,
            "unit": "ms",
            "note": "one batch",
        },
        {
            "group": group,
            "name": f"delete {n:,} tombstones",
            "value": delete.duration,
            "unit": "s",
            "note": f"{delete.batches} batches",
        },
        {
            "group": group,
            "name": "  longest single transaction",
            "value": delete.longest_transaction * 1000,
            "unit": "ms",
        },
        {
            "group": group,
            "name": f"expire {n:,}: peak Python memory",
            "value": peak / 2**20,
            "unit": "MiB",
            "note": f"tracemalloc, 2nd data set ({traced.expired:,} rows, {traced_time:.1f}s traced)",
        },
    ]


def run(quick: bool) -> list[Row]:
    from .djangosetup import setup

    aliases = setup()
    rows: list[Row] = []
    for alias in aliases:
        rows += _cycles(alias, quick)
    for alias in aliases:
        rows += _purge(alias, quick)
    return rows
