"""Concurrency on PostgreSQL and MariaDB: 8 worker threads, each with its own connection.

- **Fresh operations on distinct keys**: each thread admits and seals its own ids (``try_admit`` +
  ``seal_owned``) for a fixed time; operations per second with 8 threads and with 1, alternating
  rounds, median of the rounds.
- **Duplicates on one key**: for each new key, 8 threads released together by a barrier call
  ``try_admit``; exactly one must be admitted (it seals), the other 7 see it in flight or sealed.
  Keys settled per second, and the outcome counts (any second admission is an error).
- **Concurrent duplicate requests** (semantics, not speed): 8 threads post the same new key at once
  to a view that takes 30 ms and counts its executions, through ``exactly_once`` and each
  alternative; how many times the view ran per key.

Skipped for a server that is not reachable (SQLite has one writer: threads there measure its lock).
"""

from __future__ import annotations

import itertools
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from .harness import Row, row
from .store import FINGERPRINT, REPLY, _schemas

THREADS = 8


def _in_threads(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in ``n`` threads, each closing its database connections when done."""
    from django.db import connections

    from op_store.store.orm import close_admission_connections

    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def target(i: int) -> None:
        try:
            results[i] = work(i)
        except BaseException as exc:
            errors.append(exc)
        finally:
            for conn in connections.all(initialized_only=True):
                conn.close()
            close_admission_connections()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def _fresh_throughput(alias: str, quick: bool) -> list[Row]:
    from op_store.store import DjangoOperationStore

    root, registry = _schemas()
    ids = itertools.count(1)
    lock = threading.Lock()
    seconds = 1.5 if quick else 4.0

    def work(_: int) -> int:
        store = DjangoOperationStore(scope="concurrent-fresh", using=alias)
        done = 0
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            with lock:
                op = next(ids)
            adm = store.try_admit(op, fingerprint=FINGERPRINT)
            assert adm.token is not None, adm
            store.seal_owned(op, adm.token, REPLY, root, registry, status_code=201)
            done += 1
        return done

    samples: dict[int, list[float]] = {1: [], THREADS: []}
    for r in range(2 if quick else 3):
        for n in (1, THREADS) if r % 2 == 0 else (THREADS, 1):
            started = time.perf_counter()
            total = sum(_in_threads(n, work))
            samples[n].append(total / (time.perf_counter() - started))
    one, many = statistics.median(samples[1]), statistics.median(samples[THREADS])
    group = f"concurrency/{alias}"
    return [
        row(group, "fresh operations, distinct keys, 1 thread", one, "ops/s", "try_admit + seal_owned"),
        row(group, f"fresh operations, distinct keys, {THREADS} threads", many, "ops/s", "each its own connection"),
        row(group, f"  {THREADS} threads / 1 thread", many / one, "ratio", "2 cores shared with other work"),
    ]


def _duplicates(alias: str, quick: bool) -> list[Row]:
    from op_store.store import AdmissionOutcome, DjangoOperationStore

    root, registry = _schemas()
    keys = 100 if quick else 400
    barrier = threading.Barrier(THREADS)
    base = 10**12
    outcomes: list[Counter[str]] = [Counter() for _ in range(THREADS)]

    def work(i: int) -> None:
        store = DjangoOperationStore(scope="concurrent-duplicates", using=alias)
        for k in range(keys):
            op = base + k
            barrier.wait()
            adm = store.try_admit(op, fingerprint=FINGERPRINT)
            outcomes[i][adm.outcome.value] += 1
            if adm.outcome is AdmissionOutcome.ADMITTED:
                assert adm.token is not None
                store.seal_owned(op, adm.token, REPLY, root, registry)

    started = time.perf_counter()
    _in_threads(THREADS, work)
    elapsed = time.perf_counter() - started
    total: Counter[str] = sum(outcomes, Counter())
    group = f"concurrency/{alias}"
    assert total["admitted"] == keys, f"{total['admitted']} admissions for {keys} keys: {dict(total)}"
    shown = ", ".join(f"{name} {count}" for name, count in sorted(total.items()))
    return [
        row(group, f"duplicates: {THREADS} threads race on each key", keys / elapsed, "keys/s", shown),
        row(group, "  admissions per key", total["admitted"] / keys, "per key", "must be exactly 1"),
    ]


# --- request-level semantics of concurrent duplicates ------------------------------------------------

_RUNS: Counter[str] = Counter()
_RUNS_LOCK = threading.Lock()


def slow_view(request: Any) -> Any:
    from django.http import JsonResponse

    with _RUNS_LOCK:
        _RUNS[request.headers.get("Idempotency-Key", "")] += 1
    time.sleep(0.03)
    return JsonResponse({"ok": True}, status=201)


def _duplicate_requests(alias: str, quick: bool) -> list[Row]:
    from django.test import Client

    from .djangosetup import available

    urls = {"exactly_once": "/bench/slow/once/"}
    if available("idempotency_key"):
        urls["django-idempotency-key"] = "/bench/slow/dik/"
    if available("drf_idempotency"):
        urls["drf-idempotency"] = "/bench/slow/drfi/"
    keys = 3 if quick else 10
    group = f"concurrency/{alias}"
    rows: list[Row] = []
    for label, url in urls.items():
        statuses: Counter[str] = Counter()
        barrier = threading.Barrier(THREADS)
        for k in range(keys):
            key = f"dup-{alias}-{label}-{k}"  # the run counter is per process: keys apart per database

            def work(_: int, key: str = key, url: str = url, barrier: threading.Barrier = barrier) -> str:
                client = Client()
                barrier.wait()
                try:
                    response = client.post(url, b"{}", content_type="application/json", HTTP_IDEMPOTENCY_KEY=key)
                except Exception as exc:  # drf-idempotency's decorator raises (DRF would answer 409)
                    return type(exc).__name__
                return str(response.status_code)

            statuses.update(_in_threads(THREADS, work))
        runs = [_RUNS[f"dup-{alias}-{label}-{k}"] for k in range(keys)]
        shown = ", ".join(f"{code}: {n}" for code, n in sorted(statuses.items()))
        rows.append(
            row(
                group,
                f"{label}: view runs per key, {THREADS} concurrent duplicates",
                sum(runs) / keys,
                "runs",
                f"max {max(runs)}; statuses {shown}",
            )
        )
    return rows


def run(quick: bool) -> list[Row]:
    from django.test import override_settings

    from .djangosetup import default_database, setup

    aliases = [a for a in setup() if a in ("postgres", "mysql")]
    rows: list[Row] = []
    for alias in aliases:
        rows += _fresh_throughput(alias, quick)
        rows += _duplicates(alias, quick)
        with default_database(alias), override_settings(OP_STORE={"DATABASE": alias}):
            rows += _duplicate_requests(alias, quick)
    return rows
