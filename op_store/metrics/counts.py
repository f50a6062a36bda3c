"""How many operations are admitted, stale and sealed, without counting a big table on every scrape.

A ``COUNT(*)`` over tens of millions of rows takes seconds, and a scrape runs every few seconds.
Each figure here counts at most :data:`CAP` + 1 rows through an index
(``SELECT COUNT(*) FROM (SELECT ... LIMIT CAP + 1)``: bounded work whatever the table size), like
the admin's changelist paginator. Past the cap the figure is an estimate: PostgreSQL's planner
estimate for the same query (``EXPLAIN``, from the statistics autovacuum keeps), elsewhere the cap
itself. Admitted and stale rows are few in a healthy system (one per request in flight), so their
figures are exact; the sealed figure is usually the estimate. Per database: docs/deployment.md,
"Metrics".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connections
from django.utils import timezone

from op_store.models import Operation, OperationQuerySet
from op_store.store.orm.alias import store_alias

#: Rows counted exactly per figure; past this a figure is an estimate.
CAP = 10_000

#: The states reported, in order.
STATES = ("admitted", "stale", "sealed")


@dataclass(frozen=True, slots=True)
class Figure:
    """A count, and whether it is an estimate (more than :data:`CAP` rows)."""

    value: int
    estimated: bool


def operation_counts(*, using: str | None = None, now: datetime | None = None, cap: int = CAP) -> dict[str, Figure]:
    """The admitted (stale included), stale and sealed figures of the store's database (all scopes)."""
    alias = store_alias(using)
    operations = Operation.objects.using(alias)
    return {
        "admitted": bounded_count(operations.admitted(), cap),
        "stale": bounded_count(operations.stale(now or timezone.now()), cap),
        "sealed": bounded_count(operations.sealed(), cap),
    }


def bounded_count(queryset: OperationQuerySet, cap: int) -> Figure:
    """Exact up to ``cap`` rows; past it the planner's estimate (PostgreSQL) or the cap."""
    counted = queryset.order_by()[: cap + 1].count()
    if counted <= cap:
        return Figure(counted, estimated=False)
    return Figure(max(cap, planner_estimate(queryset) or 0), estimated=True)


def planner_estimate(queryset: OperationQuerySet) -> int | None:
    """PostgreSQL's estimate of the rows ``queryset`` matches (``EXPLAIN``: no row is read); None elsewhere."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        row = cursor.fetchone()
    if not row:
        return None
    plan: Any = json.loads(row[0]) if isinstance(row[0], str) else row[0]
    rows = plan[0]["Plan"]["Plan Rows"]
    return int(rows) if rows >= 0 else None
