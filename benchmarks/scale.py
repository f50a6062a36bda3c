"""Scale: replay latency against table size, purging a million expired operations, shared schemas.

- **Replay vs rows stored.** Three scratch databases (``<db>_1k``, ``<db>_100k``, ``<db>_1m``: files on
  SQLite, schemas on PostgreSQL, databases on MariaDB; see ``djangosetup.scratch``) are filled with
  1,000 / 100,000 / 1,000,000 sealed operations by one server-side statement each (``generate_series``
  on PostgreSQL, a recursive CTE on SQLite, a cross join of digits on MariaDB, whose recursive CTEs
  stop at 1,000 iterations by default), then the lifecycle's replay lookup (``try_admit`` of a sealed id) runs
  against the three in the same rounds. ``--quick`` stops at 100k.
- **Purge.** 1,000,000 sealed operations past retention (sealed 1 ms apart) (100,000 with ``--quick``) are expired into
  tombstones and the tombstones deleted (``op_store.store.orm.purge``, batches of
  ``PURGE_BATCH_SIZE``): total time, rows per second, the longest single transaction, and the peak
  memory growth of the process (resident set size sampled every 5 ms by a thread: the purge works in
  batches, so it must not grow with the table).
- **Shared response types.** 10,000 operations (1,000 with ``--quick``) are admitted and sealed with the
  same response type: schema rows written (the type's closure, once) and statements on the schema
  table after the first seal (0: the schema cache and the seal's EXISTS guards).
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from time import perf_counter, sleep
from typing import Any

from .harness import Row, measure, row, timing_rows
from .store import FINGERPRINT, REPLY

SIZES = {"1k": 1_000, "100k": 100_000, "1m": 1_000_000}
PAGE = os.sysconf("SC_PAGE_SIZE")


def _fill(alias: str, n: int, *, scope: str, state: str, days: int) -> float:
    """Insert ``n`` sealed (or expired-sealed) operations in one statement; seconds taken."""
    from django.db import connections
    from django.utils import timezone

    conn = connections[alias]
    when = timezone.now() + timedelta(days=days)
    root = '{"tag": "concrete", "type_id": "0000000000b00003"}'
    started = perf_counter()
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            cursor.execute(
                "INSERT INTO op_store_operation (scope, operation_id, state, method, key, token, transactional, "
                "response, root_type, response_size, status_code, created_at, sealed_at, expires_at) "
                "SELECT %s, g, %s, 'POST /fill', '', g, FALSE, %s, %s::jsonb, 200, 201, t, t, t "
                "FROM generate_series(1, %s) AS g, LATERAL (SELECT %s + g * interval '1 millisecond' AS t) AS s",
                [scope, state, REPLY, root, n, when],
            )
            cursor.execute("ANALYZE op_store_operation")
        elif conn.vendor == "mysql":
            digits = "(" + " UNION ALL ".join(f"SELECT {d} AS d" for d in range(10)) + ")"
            width = len(str(n - 1))  # decimal places enough for 1..n, and no more (1k: 3)
            places = [f"{10**p} * d{p}.d" for p in range(width)]
            numbers = f"SELECT 1 + {' + '.join(places)} AS i FROM " + ", ".join(
                f"{digits} AS d{p}" for p in range(width)
            )
            t = "%s + INTERVAL g.i * 1000 MICROSECOND"
            cursor.execute(
                "INSERT INTO op_store_operation (scope, operation_id, state, method, `key`, token, transactional, "
                "response, root_type, response_size, status_code, created_at, sealed_at, expires_at) "
                f"SELECT %s, g.i, %s, 'POST /fill', '', g.i, 0, %s, %s, 200, 201, {t}, {t}, {t} "
                f"FROM ({numbers}) AS g WHERE g.i <= %s",
                [scope, state, REPLY, root, *[when.replace(tzinfo=None)] * 3, n],
            )
            cursor.execute("ANALYZE TABLE op_store_operation")
            cursor.fetchall()
        else:
            stamp = when.strftime("%Y-%m-%d %H:%M:%S")
            t = "strftime('%%Y-%%m-%%d %%H:%%M:%%f', %s, '+' || (i / 1000.0) || ' seconds')"
            cursor.execute(
                "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < %s) "
                "INSERT INTO op_store_operation (scope, operation_id, state, method, key, token, transactional, "
                "response, root_type, response_size, status_code, created_at, sealed_at, expires_at) "
                f"SELECT %s, i, %s, 'POST /fill', '', i, 0, %s, %s, 200, 201, {t}, {t}, {t} FROM g",
                [n, scope, state, REPLY, root, stamp, stamp, stamp],
            )
            cursor.execute("ANALYZE")
    return perf_counter() - started


def _replay_vs_size(base: str, quick: bool) -> list[Row]:
    from op_store.store import DjangoOperationStore

    from .djangosetup import scratch
    from .store import _schemas

    root, registry = _schemas()
    group = f"scale/{base}"
    rows: list[Row] = []
    cases: dict[str, Callable[[], object]] = {}
    labels = ["1k", "100k"] if quick else ["1k", "100k", "1m"]
    for label in labels:
        alias = scratch(base, label)
        seconds = _fill(alias, SIZES[label], scope="fill", state="sealed", days=1)
        rows.append(row(group, f"fill {SIZES[label]:,} sealed operations", seconds, "s", "one server-side statement"))
        store = DjangoOperationStore(scope="bench", using=alias)
        adm = store.try_admit(42, fingerprint=FINGERPRINT)
        store.seal_owned(42, adm.token, REPLY, root, registry)  # type: ignore[arg-type]
        cases[f"replay lookup, {SIZES[label]:,} rows"] = functools.partial(store.try_admit, 42, fingerprint=FINGERPRINT)
    rounds, block = (5, 100) if quick else (7, 300)
    medians = measure(cases, rounds=rounds, block=block)
    rows += timing_rows(group, medians, baseline="replay lookup, 1,000 rows", note="try_admit of a sealed id")
    return rows


@dataclass
class _PeakRss:
    """Peak resident-set growth of this process while the block runs (sampled by a thread)."""

    interval: float = 0.005
    base: int = 0
    peak: int = 0

    def _rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE

    def __enter__(self) -> _PeakRss:
        self.base = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            sleep(self.interval)

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.base) / 2**20


def _purge(base: str, quick: bool) -> list[Row]:
    from django.utils import timezone

    from op_store.conf import op_store_settings
    from op_store.store.orm import purge

    from .djangosetup import scratch

    n = 100_000 if quick else 1_000_000
    group = f"purge/{base}"
    alias = scratch(base, "purge")
    fill = _fill(alias, n, scope="purge", state="sealed", days=-30)
    now = timezone.now()
    batch = op_store_settings.PURGE_BATCH_SIZE
    with _PeakRss() as expire_mem:
        expire = purge(using=alias, now=now)
    later = now + op_store_settings.TOMBSTONE_RETENTION + timedelta(days=1)
    with _PeakRss() as delete_mem:
        delete = purge(using=alias, now=later)
    assert expire.expired == n and delete.deleted == n, (expire, delete)
    return [
        row(group, f"fill {n:,} sealed operations past retention", fill, "s", "one server-side statement"),
        row(group, f"expire {n:,} sealed -> tombstones", expire.duration, "s", f"{expire.batches} batches of {batch}"),
        row(group, "  rows per second", n / expire.duration, "rows/s"),
        row(group, "  longest single transaction", expire.longest_transaction * 1000, "ms", "one batch"),
        row(group, "  peak memory growth", expire_mem.growth_mib, "MiB", "process RSS, sampled every 5 ms"),
        row(group, f"delete {n:,} tombstones", delete.duration, "s", f"{delete.batches} batches"),
        row(group, "  rows per second", n / delete.duration, "rows/s"),
        row(group, "  longest single transaction", delete.longest_transaction * 1000, "ms"),
        row(group, "  peak memory growth", delete_mem.growth_mib, "MiB", "process RSS, sampled every 5 ms"),
    ]


def _shared_types(alias: str, quick: bool) -> list[Row]:
    """Seal N operations whose replies share one response type (a struct with nested types)."""
    from dataclasses import make_dataclass

    from django.db import connections

    from op_store.models import Schema
    from op_store.store import DjangoOperationStore
    from op_store.vox import U32, schema_for

    # Built with real annotation objects (this module's are strings), which schema_for reads.
    line: Any = make_dataclass("Line", [("sku", str), ("quantity", U32)], frozen=True)
    receipt = make_dataclass("Receipt", [("number", U32), ("lines", list[line]), ("note", str | None)], frozen=True)
    root, registry = schema_for(receipt)
    n = 1_000 if quick else 10_000
    group = f"seal/{alias}"
    store = DjangoOperationStore(scope="shared-types", using=alias)
    ids = itertools.count(1)
    before = Schema.objects.using(alias).count()

    def cycle() -> None:
        op = next(ids)
        adm = store.try_admit(op, fingerprint=FINGERPRINT)
        assert adm.token is not None
        store.seal_owned(op, adm.token, REPLY, root, registry)

    counts = {"all": 0, "schema": 0}

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        counts["all"] += 1
        counts["schema"] += "op_store_schema" in sql and "op_store_operation" not in sql
        return execute(sql, params, many, context)

    conn = connections[alias]
    with conn.execute_wrapper(count):
        cycle()
        written = Schema.objects.using(alias).count() - before
        first_schema = counts["schema"] - 1  # the COUNT just above
        counts.update(all=0, schema=0)
        started = perf_counter()
        for _ in range(n - 1):
            cycle()
        seconds = perf_counter() - started
    later_schema = counts["schema"]
    per_op = counts["all"] / (n - 1)
    return [
        row(group, f"seal {n:,} operations sharing one response type", seconds, "s", "admit + seal each"),
        row(group, "  schema rows written", written, "rows", f"the closure of Receipt: {len(registry)} schemas"),
        row(group, "  schema statements in the first seal", first_schema, "stmts"),
        row(group, f"  schema statements in the {n - 1:,} seals after it", later_schema, "stmts"),
        row(group, "  statements per operation after the first", per_op, "stmts", "admission + seal"),
    ]


def run(quick: bool) -> list[Row]:
    from .djangosetup import setup

    aliases = setup()
    rows: list[Row] = []
    for alias in aliases:
        rows += _replay_vs_size(alias, quick)
    for alias in aliases:
        rows += _shared_types(alias, quick)
    for alias in aliases:
        rows += _purge(alias, quick)
    return rows
