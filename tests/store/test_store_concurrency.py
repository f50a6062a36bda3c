"""Races with real, separate connections: threads and processes admitting the same ids.

The ORM races need a database server, PostgreSQL or MySQL/MariaDB (SQLite's shared-cache
in-memory test database answers concurrent writers with "table is locked" instead of waiting); the
prepared variant needs PostgreSQL; the in-memory store runs the thread races everywhere.
"""

from __future__ import annotations

import collections
import multiprocessing
import random
from datetime import timedelta

import pytest
from django.db import connections, transaction

from op_store.store import AdmissionOutcome, InMemoryOperationStore
from op_store.testing import concurrently
from tests.support.stores import FUNCTION_PARAM, ON_POSTGRES, ON_SERVER, ORM_PARAM, PREPARED_PARAM, PREPARES, FakeClock

needs_server = pytest.mark.skipif(
    not ON_SERVER, reason="needs a database server: run with OP_STORE_TEST_DB=postgres or mysql"
)


@pytest.fixture(
    params=[
        "memory",
        pytest.param(ORM_PARAM, marks=needs_server),
        pytest.param(
            PREPARED_PARAM,
            marks=pytest.mark.skipif(not PREPARES, reason="prepared statements need PostgreSQL without a pooler"),
        ),
        pytest.param(FUNCTION_PARAM, marks=pytest.mark.skipif(not ON_POSTGRES, reason="the function is PostgreSQL's")),
    ]
)
def make_store(request):
    clock = FakeClock()
    if request.param == "memory":
        memory = InMemoryOperationStore(clock)
        return (lambda: memory), clock
    request.getfixturevalue("transactional_db")
    from op_store.store import DjangoOperationStore

    prepared = request.param == PREPARED_PARAM
    function = request.param == FUNCTION_PARAM
    return (
        lambda: DjangoOperationStore(scope="race", clock=clock, prepared=prepared, admission_function=function)
    ), clock


pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("in_atomic", [False, True], ids=["autocommit", "in-atomic"])
def test_32_threads_admit_one_id(make_store, in_atomic):
    make, _ = make_store

    def work(i: int) -> AdmissionOutcome:
        if in_atomic:  # the admission must commit on its own, on the sibling connection
            with transaction.atomic():
                return make().try_admit(42, fingerprint=b"same").outcome
        return make().try_admit(42, fingerprint=b"same").outcome

    outcomes = collections.Counter(concurrently(32, work))
    assert outcomes == {AdmissionOutcome.ADMITTED: 1, AdmissionOutcome.IN_FLIGHT: 31}


def test_16_racers_take_over_one_stale_admission(make_store):
    make, clock = make_store
    old = make().try_admit(7, lease=timedelta(seconds=5))
    clock.advance(seconds=6)
    admissions = concurrently(16, lambda i: make().take_over(7, old.token, lease=timedelta(minutes=1)))
    winners = [a for a in admissions if a.admitted]
    assert len(winners) == 1
    assert all(a.in_flight and a.token == winners[0].token for a in admissions if not a.admitted)


def test_1000_ids_raced_by_8_workers(make_store):
    make, _ = make_store
    ids = list(range(10_000, 11_000))

    def work(i: int) -> list[int]:
        store = make()
        order = ids[:]
        random.Random(i).shuffle(order)
        return [op_id for op_id in order if store.try_admit(op_id).admitted]

    admitted = collections.Counter(op_id for won in concurrently(8, work) for op_id in won)
    assert set(admitted) == set(ids)
    assert set(admitted.values()) == {1}


# --- processes ------------------------------------------------------------------------------------


def _process_admit(barrier, queue, admission_function) -> None:  # pragma: no cover - runs in a child
    """A forked child: Django is set up; it opens its own connection to the test database."""
    from op_store.store import DjangoOperationStore

    try:
        store = DjangoOperationStore(scope="processes", admission_function=admission_function)
        store.lookup(0)  # connect before the start line
        barrier.wait(timeout=60)
        queue.put(store.try_admit(99, fingerprint=b"same").outcome.value)
    except BaseException as exc:
        queue.put(f"error: {exc!r}")
    finally:
        connections.close_all()


@needs_server
@pytest.mark.slow
@pytest.mark.parametrize(
    "admission_function",
    [False, pytest.param(True, marks=pytest.mark.skipif(not ON_POSTGRES, reason="the function is PostgreSQL's"))],
    ids=["statement", "function"],
)
def test_8_processes_admit_one_id(transactional_db, admission_function):
    # fork (not spawn): the children inherit Django's setup and the test database's name; the
    # parent's connections are closed first so that no child shares a socket with another.
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(8)
    queue = ctx.Queue()
    connections.close_all()
    processes = [ctx.Process(target=_process_admit, args=(barrier, queue, admission_function)) for _ in range(8)]
    for p in processes:
        p.start()
    outcomes = collections.Counter(queue.get(timeout=90) for _ in processes)
    for p in processes:
        p.join(timeout=60)
    assert outcomes == {"admitted": 1, "in_flight": 7}, outcomes
    assert all(p.exitcode == 0 for p in processes)
