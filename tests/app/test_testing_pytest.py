"""op_store.testing with pytest: the examples of docs/testing.md (copied there verbatim) and the helpers' own tests.

The views are the lifecycle test views (tests/testapp): ``/lc/fn/<name>/`` counts its runs in
``Counter(name)`` and is sealed with the default 60-second lease; ``/lc/reexecute/<name>/`` has a
0.2-second lease and ``stale="reexecute"``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.utils import timezone

from op_store.decorators import exactly_once
from op_store.lifecycle.keys import operation_id_for_key
from op_store.store import OperationState
from op_store.store.orm import DjangoOperationStore
from op_store.testing import (
    FakeClock,
    MemoryStores,
    concurrently,
    crash_after_admission,
    frozen_time,
    in_flight,
)
from tests.testapp.models import Counter

pytestmark = pytest.mark.django_db


def runs(name: str) -> int:
    counter = Counter.objects.filter(name=name).first()
    return 0 if counter is None else counter.value


# --- the examples of docs/testing.md -----------------------------------------------------------


def test_a_crash_after_admission_is_indeterminate_once_the_lease_ran_out(alice, op_store_clock):
    with crash_after_admission():
        alice.post("/lc/fn/pay/", HTTP_IDEMPOTENCY_KEY="pay-1")
    assert runs("pay") == 0  # the worker died before the view ran

    retry = alice.post("/lc/fn/pay/", HTTP_IDEMPOTENCY_KEY="pay-1")
    assert (retry.status_code, retry.json()["code"]) == (409, "in-flight")  # the lease is still running

    op_store_clock.advance(seconds=61)  # past the default 60-second lease
    retry = alice.post("/lc/fn/pay/", HTTP_IDEMPOTENCY_KEY="pay-1")
    assert (retry.status_code, retry.json()["code"]) == (409, "indeterminate")
    assert runs("pay") == 0


def test_a_crashed_operation_is_taken_over_under_reexecute(alice, op_store_clock):
    with crash_after_admission():
        alice.post("/lc/reexecute/pay/", HTTP_IDEMPOTENCY_KEY="pay-1")
    op_store_clock.advance(seconds=1)  # the view's lease is 0.2 seconds
    retry = alice.post("/lc/reexecute/pay/", HTTP_IDEMPOTENCY_KEY="pay-1")
    assert retry.status_code == 201
    assert runs("pay") == 1


def test_a_sealed_reply_expires_after_retention_and_purge(alice, op_store_clock):
    first = alice.post("/lc/fn/pay/", HTTP_IDEMPOTENCY_KEY="pay-1")
    assert first.status_code == 201
    op_store_clock.advance(hours=25)  # past the default 24-hour retention
    call_command("op_store_purge")
    retry = alice.post("/lc/fn/pay/", HTTP_IDEMPOTENCY_KEY="pay-1")
    assert (retry.status_code, retry.json()["code"]) == (410, "expired")
    assert runs("pay") == 1


@pytest.mark.django_db(transaction=True)  # the first request runs on another thread
def test_a_duplicate_sent_while_the_first_is_in_flight_gets_409(user):
    first_client, second_client = Client(), Client()
    first_client.force_login(user)
    second_client.force_login(user)

    with in_flight(lambda: first_client.post("/lc/fn/pay/", HTTP_IDEMPOTENCY_KEY="pay-1")) as first:
        duplicate = second_client.post("/lc/fn/pay/", HTTP_IDEMPOTENCY_KEY="pay-1")
        assert (duplicate.status_code, duplicate.json()["code"]) == (409, "in-flight")
        assert runs("pay") == 0  # the first is held before its view runs

    assert first.result.status_code == 201
    retry = second_client.post("/lc/fn/pay/", HTTP_IDEMPOTENCY_KEY="pay-1")
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.result.json()
    assert runs("pay") == 1


def test_operations_are_recorded_under_a_scope_of_this_test(alice, user, op_store_scope):
    alice.post("/lc/fn/pay/", HTTP_IDEMPOTENCY_KEY="pay-1")
    operation_id = operation_id_for_key("pay-1")
    assert op_store_scope.store(f"user:{user.pk}").lookup(operation_id) is OperationState.SEALED
    assert DjangoOperationStore(f"user:{user.pk}").lookup(operation_id) is OperationState.UNKNOWN


# --- the helpers themselves --------------------------------------------------------------------


def test_the_fake_clock_moves_only_forward_and_only_when_told():
    clock = FakeClock(datetime(2030, 5, 1, tzinfo=UTC))
    assert clock() == datetime(2030, 5, 1, tzinfo=UTC)
    assert clock.advance(timedelta(minutes=1), seconds=30) == datetime(2030, 5, 1, 0, 1, 30, tzinfo=UTC)
    assert clock() == datetime(2030, 5, 1, 0, 1, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(seconds=-1)
    with pytest.raises(ValueError, match="aware"):
        FakeClock(datetime(2030, 5, 1))


def test_frozen_time_answers_timezone_now_and_restores_it():
    real_now = timezone.now
    with frozen_time() as clock:
        assert timezone.now() == clock() == timezone.now()
        clock.advance(days=3)
        assert timezone.now() == clock()
        assert DjangoOperationStore("s").now() == clock()
    assert timezone.now is real_now


def test_the_admission_of_a_store_on_a_frozen_clock_expires_with_the_clock():
    with frozen_time() as clock:
        store = DjangoOperationStore("s")
        store.try_admit(1, fingerprint=b"f", lease=timedelta(seconds=10))
        clock.advance(seconds=9)
        assert store.try_admit(1, fingerprint=b"f").outcome.value == "in_flight"
        clock.advance(seconds=2)
        assert store.try_admit(1, fingerprint=b"f").outcome.value == "stale"


def test_isolated_scopes_keep_the_configured_resolver_and_are_unique(alice, user, settings):
    from op_store.testing import isolated_scope

    settings.OP_STORE = {"SCOPE_RESOLVER": "op_store.lifecycle.scopes.shared_scope"}
    with isolated_scope() as one, isolated_scope() as two:
        assert one.prefix != two.prefix
        alice.post("/lc/fn/pay/", HTTP_IDEMPOTENCY_KEY="pay-1")
        stored = f"{two.prefix}{one.prefix}shared"  # the inner block wraps the outer one's resolver
        assert DjangoOperationStore(stored).lookup(operation_id_for_key("pay-1")) is OperationState.SEALED
        assert two.store(one.scope("shared")).lookup(operation_id_for_key("pay-1")) is OperationState.SEALED
    assert settings.OP_STORE == {"SCOPE_RESOLVER": "op_store.lifecycle.scopes.shared_scope"}
    with isolated_scope("mine:") as mine:
        alice.post("/lc/fn/pay/", HTTP_IDEMPOTENCY_KEY="pay-2")
        assert DjangoOperationStore("mine:shared").lookup(operation_id_for_key("pay-2")) is OperationState.SEALED
        assert mine.scope("shared") == "mine:shared"


def test_memory_stores_give_a_view_one_in_memory_store_per_scope(op_store_memory_stores, op_store_clock):
    calls = []

    @exactly_once(store=op_store_memory_stores, scope=lambda request: request.GET["who"])
    def view(request: HttpRequest) -> HttpResponse:
        calls.append(request.GET["who"])
        return HttpResponse("done", status=201)

    factory = RequestFactory()
    for who in ("a", "a", "b"):
        response = view(factory.post(f"/x/?who={who}", HTTP_IDEMPOTENCY_KEY="k"))
        assert response.status_code == 201
    assert calls == ["a", "b"]  # the second "a" was replayed
    assert sorted(op_store_memory_stores.by_scope) == ["a", "b"]
    store = op_store_memory_stores("a")
    assert store.now() == op_store_clock()
    assert store.lookup(operation_id_for_key("k")) is OperationState.SEALED


def test_the_memory_store_fixture_runs_on_the_fake_clock(op_store_memory_store, op_store_clock):
    op_store_memory_store.try_admit(7, fingerprint=b"f", lease=timedelta(seconds=5))
    op_store_clock.advance(seconds=6)
    assert op_store_memory_store.try_admit(7, fingerprint=b"f").outcome.value == "stale"


def test_crash_after_admission_fails_when_nothing_was_admitted(alice):
    with pytest.raises(AssertionError, match="no request was admitted"), crash_after_admission():
        alice.post("/lc/fn/pay/")  # no key: nothing to admit
    assert runs("pay") == 1


def test_crash_after_admission_crashes_only_the_first_admission(alice):
    with crash_after_admission() as crash:
        alice.post("/lc/fn/pay/", HTTP_IDEMPOTENCY_KEY="pay-1")
        other = alice.post("/lc/fn/pay/", HTTP_IDEMPOTENCY_KEY="pay-2")
    assert other.status_code == 201
    assert crash.admission["operation_id"] == operation_id_for_key("pay-1")
    assert crash.admission["key"] == "pay-1"
    assert runs("pay") == 1


def test_a_client_that_hides_exceptions_sees_the_crash_as_500(user):
    client = Client(raise_request_exception=False)
    client.force_login(user)
    with crash_after_admission() as crash:
        response = client.post("/lc/fn/pay/", HTTP_IDEMPOTENCY_KEY="pay-1")
    assert response.status_code == 500
    assert crash.happened


def test_in_flight_refuses_to_run_inside_a_test_transaction(alice):
    with pytest.raises(RuntimeError, match="transactional_db"), in_flight(lambda: None):
        pass


@pytest.mark.django_db(transaction=True)
def test_in_flight_fails_when_the_first_request_is_never_admitted(user):
    client = Client()
    client.force_login(user)
    with pytest.raises(AssertionError, match="without being admitted"), in_flight(lambda: client.post("/lc/fn/pay/")):
        pass
    assert runs("pay") == 1


@pytest.mark.django_db(transaction=True)
def test_in_flight_can_release_the_first_request_inside_the_block(user):
    client = Client()
    client.force_login(user)
    with in_flight(lambda: client.post("/lc/fn/pay/", HTTP_IDEMPOTENCY_KEY="pay-1")) as first:
        assert first.admission["key"] == "pay-1"
        with pytest.raises(RuntimeError, match="still held"):
            first.result  # noqa: B018
        assert first.release().status_code == 201
        assert runs("pay") == 1
        replay = client.post("/lc/fn/pay/", HTTP_IDEMPOTENCY_KEY="pay-1")
        assert replay["Idempotent-Replayed"] == "true"


def test_concurrently_returns_results_in_order_once_all_threads_met():
    import threading

    met = threading.Barrier(4)

    def work(i: int) -> int:
        met.wait(5)  # would time out unless all four run at once
        return i * 10

    assert concurrently(4, work) == [0, 10, 20, 30]


def test_concurrently_raises_a_thread_error():
    def work(i: int) -> int:
        if i == 2:
            raise ZeroDivisionError("thread 2")
        return i

    with pytest.raises(ZeroDivisionError, match="thread 2"):
        concurrently(3, work)


def test_memory_stores_without_a_clock_use_the_real_time():
    store = MemoryStores()("s")
    before = timezone.now()
    assert before <= store.now() <= timezone.now()
