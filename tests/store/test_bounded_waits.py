"""Bounded waits on PostgreSQL: a duplicate arriving between a seal and its COMMIT waits at most
``OP_STORE["LOCK_TIMEOUT"]``, then is answered 409 in-flight (or, with WAIT, replayed once the
operation committed), never blocked until the other transaction ends and never a 500.

The request-level tests run with both admissions (``pg_admission``: the CTE statement and the
admission function). The function reads the committed row first, so a sealed-but-uncommitted
operation is in flight at once, without a wait; what it can wait on is an inserted but uncommitted
row (a one-commit admission), bounded the same way.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client
from django.urls import path

from op_store import signals
from op_store.decorators import exactly_once
from op_store.store import DjangoOperationStore, StoreBusyError
from tests.support.stores import U32, U32_REGISTRY

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

#: How long the slow transaction holds its sealed row before it commits.
HOLD = 6.0
#: The bound under test, and the most a bounded wait may take (with room for a slow machine).
BOUND = 0.5
WITHIN = 3.0


@exactly_once(atomic=True)
def atomic_view(request: HttpRequest, name: str) -> HttpResponse:
    return JsonResponse({"name": name}, status=201)


@exactly_once(atomic=True, wait=HOLD * 2)
def atomic_waiting_view(request: HttpRequest, name: str) -> HttpResponse:
    return JsonResponse({"name": name}, status=201)


urlpatterns = [path("tx/<str:name>/", atomic_view), path("tx-wait/<str:name>/", atomic_waiting_view)]


@pytest.fixture
def bound(settings: Any) -> None:
    settings.OP_STORE = {**getattr(settings, "OP_STORE", {}), "LOCK_TIMEOUT": BOUND}


@pytest.fixture
def sealed_but_uncommitted() -> Iterator[threading.Event]:
    """Holds the first seal's transaction open for HOLD seconds (after the seal, before COMMIT).

    Yields the event set once the seal is in place.
    """
    sealed = threading.Event()
    holder: list[int] = []

    def hold(**kwargs: Any) -> None:
        if not holder:
            holder.append(threading.get_ident())
            sealed.set()
            time.sleep(HOLD)

    signals.operation_sealed.connect(hold, weak=False)
    yield sealed
    signals.operation_sealed.disconnect(hold)


def in_thread(fn: Any) -> threading.Thread:
    def run() -> None:
        try:
            fn()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_store_admission_waits_at_most_the_bound(bound: None, sealed_but_uncommitted: threading.Event) -> None:
    store = DjangoOperationStore("bounded")

    def slow() -> None:
        with transaction.atomic():
            admission = DjangoOperationStore("bounded").try_admit(1)
            assert admission.token is not None
            DjangoOperationStore("bounded").seal_owned(1, admission.token, b"\x01\x00\x00\x00", U32, U32_REGISTRY)

    thread = in_thread(slow)
    try:
        assert sealed_but_uncommitted.wait(10)
        started = time.monotonic()
        with pytest.raises(StoreBusyError) as raised:
            store.try_admit(1)
        assert time.monotonic() - started < WITHIN
        assert raised.value.in_flight
    finally:
        thread.join(30)
    assert store.try_admit(1).outcome.value == "sealed"


@pytest.mark.parametrize("admission_function", [False, True], ids=["statement", "function"])
def test_an_admission_waits_at_most_the_bound_on_an_uncommitted_insert(bound: None, admission_function: bool) -> None:
    inserted, release = threading.Event(), threading.Event()

    def holder() -> None:
        with transaction.atomic():
            DjangoOperationStore("uncommitted").admit_in_transaction(5)
            inserted.set()
            release.wait(HOLD)

    thread = in_thread(holder)
    try:
        assert inserted.wait(10)
        started = time.monotonic()
        with pytest.raises(StoreBusyError) as raised:
            DjangoOperationStore("uncommitted", admission_function=admission_function).try_admit(5)
        elapsed = time.monotonic() - started
    finally:
        release.set()
        thread.join(30)
    assert BOUND <= elapsed < WITHIN
    assert raised.value.in_flight


@pytest.mark.urls(__name__)
def test_a_duplicate_between_seal_and_commit_gets_409_in_flight_at_once(
    bound: None, pg_admission: dict[str, Any], user: Any, sealed_but_uncommitted: threading.Event
) -> None:
    first, second = Client(raise_request_exception=False), Client(raise_request_exception=False)
    first.force_login(user)
    second.force_login(user)
    thread = in_thread(lambda: first.post("/tx/a/", HTTP_IDEMPOTENCY_KEY="between-1"))
    try:
        assert sealed_but_uncommitted.wait(10)
        started = time.monotonic()
        duplicate = second.post("/tx/a/", HTTP_IDEMPOTENCY_KEY="between-1")
        elapsed = time.monotonic() - started
    finally:
        thread.join(30)
    assert duplicate.status_code == 409, duplicate.content[:300]
    assert json.loads(duplicate.content)["code"] == "in-flight"
    assert duplicate["Retry-After"] == "1"
    assert elapsed < WITHIN
    replay = second.post("/tx/a/", HTTP_IDEMPOTENCY_KEY="between-1")
    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"


@pytest.mark.urls(__name__)
def test_a_waiting_duplicate_is_replayed_once_the_seal_commits(
    bound: None, pg_admission: dict[str, Any], user: Any, sealed_but_uncommitted: threading.Event
) -> None:
    first, second = Client(raise_request_exception=False), Client(raise_request_exception=False)
    first.force_login(user)
    second.force_login(user)
    thread = in_thread(lambda: first.post("/tx-wait/a/", HTTP_IDEMPOTENCY_KEY="between-2"))
    try:
        assert sealed_but_uncommitted.wait(10)
        duplicate = second.post("/tx-wait/a/", HTTP_IDEMPOTENCY_KEY="between-2")
    finally:
        thread.join(30)
    assert duplicate.status_code == 201, duplicate.content[:300]
    assert duplicate["Idempotent-Replayed"] == "true"


@pytest.mark.urls(__name__)
def test_a_duplicate_inside_an_outer_transaction_gets_409_not_500(
    bound: None, pg_admission: dict[str, Any], user: Any, sealed_but_uncommitted: threading.Event
) -> None:
    first, second = Client(raise_request_exception=False), Client(raise_request_exception=False)
    first.force_login(user)
    second.force_login(user)
    thread = in_thread(lambda: first.post("/tx/a/", HTTP_IDEMPOTENCY_KEY="between-3"))
    try:
        assert sealed_but_uncommitted.wait(10)
        started = time.monotonic()
        with transaction.atomic():  # the admission runs on the sibling connection
            duplicate = second.post("/tx/a/", HTTP_IDEMPOTENCY_KEY="between-3")
        elapsed = time.monotonic() - started
    finally:
        thread.join(30)
    assert duplicate.status_code == 409, duplicate.content[:300]
    assert duplicate["Content-Type"] == "application/problem+json"
    assert json.loads(duplicate.content)["code"] == "in-flight"
    assert elapsed < WITHIN
