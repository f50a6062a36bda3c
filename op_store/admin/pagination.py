"""A changelist paginator that never counts a large table.

Django's admin asks its paginator for ``count``, which is ``SELECT COUNT(*)`` over the whole
(filtered) table: seconds on tens of millions of rows. This paginator counts at most ``cap + 1``
rows (``SELECT COUNT(*) FROM (SELECT ... LIMIT cap + 1)``, bounded work whatever the table size);
past the cap it reports PostgreSQL's planner estimate for an unfiltered list, else the cap, and
says so through :attr:`EstimatedCountPaginator.is_estimate`.
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property


class EstimatedCountPaginator(Paginator):
    """Exact count up to :attr:`cap` rows, an estimate (or the cap) beyond."""

    cap = 10_000

    @cached_property
    def is_estimate(self) -> bool:
        self.count  # noqa: B018  (computes the flag)
        return self._is_estimate

    @cached_property
    def count(self) -> int:
        self._is_estimate = False
        qs = self.object_list
        if not isinstance(qs, QuerySet):
            return len(qs)
        bounded = qs.order_by()[: self.cap + 1].count()
        if bounded <= self.cap:
            return bounded
        self._is_estimate = True
        estimate = self._table_estimate(qs) if not qs.query.where else None
        return max(self.cap, estimate or 0)

    @staticmethod
    def _table_estimate(qs: QuerySet[Any]) -> int | None:
        """PostgreSQL's ``reltuples`` for the model's table (kept fresh by autovacuum / ANALYZE)."""
        connection = connections[qs.db]
        if connection.vendor != "postgresql":
            return None
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [qs.model._meta.db_table])
            row = cursor.fetchone()
        return int(row[0]) if row and row[0] is not None and row[0] >= 0 else None
