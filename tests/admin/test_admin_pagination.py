"""EstimatedCountPaginator: exact up to a cap, never a full COUNT(*), PostgreSQL's estimate beyond."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from op_store.admin.pagination import EstimatedCountPaginator
from op_store.models import Operation
from tests.support.display import many

pytestmark = pytest.mark.django_db


class Small(EstimatedCountPaginator):
    cap = 5


def test_small_tables_are_counted_exactly():
    many(4)
    paginator = Small(Operation.objects.all(), 2)
    assert paginator.count == 4 and not paginator.is_estimate and paginator.num_pages == 2


def test_counting_stops_at_the_cap():
    many(12)
    paginator = Small(Operation.objects.filter(state="sealed"), 2)
    with CaptureQueriesContext(connection) as ctx:
        assert paginator.count == 5
    assert paginator.is_estimate
    (query,) = ctx.captured_queries
    assert "LIMIT 6" in query["sql"].upper()


def test_lists_are_counted_by_length():
    assert Small(list(range(9)), 2).count == 9


@pytest.mark.postgres
def test_postgres_uses_the_planner_estimate_for_an_unfiltered_table():
    many(40)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE op_store_operation")
    paginator = Small(Operation.objects.all(), 10)
    assert paginator.count == 40 and paginator.is_estimate
    filtered = Small(Operation.objects.filter(state="sealed"), 10)
    assert filtered.count == 5  # a filtered list has no cheap estimate: the cap
