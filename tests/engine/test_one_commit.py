"""The one-commit mode, ``exactly_once(admission="in_transaction")``: admission inside the view's transaction.

A fresh request commits exactly once (as many times as the bare writing view); a replay is one
SELECT and commits nothing; a failure rolls the admission back with the view's writes, so a retry
runs again; a concurrent duplicate never runs the view. On PostgreSQL the tests of commits,
statements and races run with both admissions (``pg_admission``: the CTE statement, the function).
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from op_store.decorators import exactly_once
from op_store.models import Operation
from tests.support.live.support import count, fail_once, hook, operation, post, problem, rows
from tests.support.stores import ON_POSTGRES
from tests.testapp import views

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls(__name__)]

needs_postgres = pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL: run with OP_STORE_TEST_DB=postgres")


@csrf_exempt
@exactly_once(admission="in_transaction")
def one_commit_view(request: HttpRequest, name: str) -> HttpResponse:
    return views._write_row(request, name)


@exactly_once(atomic=True)
def two_commit_view(request: HttpRequest, name: str) -> HttpResponse:
    return views._write_row(request, name)


@csrf_exempt
def bare_view(request: HttpRequest, name: str) -> HttpResponse:
    from django.db import transaction

    with transaction.atomic():
        return views._write_row(request, name)


urlpatterns = [
    path("one/<str:name>/", one_commit_view),
    path("two/<str:name>/", two_commit_view),
    path("bare/<str:name>/", bare_view),
]

_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", re.IGNORECASE)
#: A writing statement; a call of the admission function writes (inserts) when the key is new.
_WRITE = re.compile(r"\b(INSERT|UPDATE|DELETE|op_store_admit)\b", re.IGNORECASE)


def statements_and_commits(fn: Any) -> tuple[int, int]:
    """(op_store's statements, commits) on the default connection: COMMITs, plus writes in autocommit."""
    with CaptureQueriesContext(connection) as captured:
        fn()
    statements = commits = 0
    in_transaction = False
    for sql in (q["sql"] for q in captured.captured_queries):
        word = _CONTROL.match(sql)
        if word:
            keyword = word.group(1).upper()
            if keyword == "BEGIN":
                in_transaction = True
            elif keyword in ("COMMIT", "ROLLBACK"):
                commits += keyword == "COMMIT"
                in_transaction = False
            continue
        statements += "op_store_" in sql
        if not in_transaction and connection.in_atomic_block is False and _WRITE.search(sql):
            commits += 1  # autocommit: the statement commits on its own
    return statements, commits


@pytest.fixture
def client(user: Any) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def test_a_fresh_request_commits_once_like_the_bare_view_and_the_default_mode_twice(
    client: Client, pg_admission: dict[str, Any]
) -> None:
    bare = statements_and_commits(lambda: post(client, "/bare/b/"))
    one = statements_and_commits(lambda: post(client, "/one/o/", key="k-one"))
    two = statements_and_commits(lambda: post(client, "/two/t/", key="k-two"))
    assert bare[1] == 1
    assert one[1] == 1
    assert two[1] == 2
    assert rows("b") == rows("o") == rows("t") == 1


def test_a_replay_is_one_select_and_commits_nothing(client: Client, scope: str, pg_admission: dict[str, Any]) -> None:
    first = post(client, "/one/a/")
    assert first.status_code == 201
    assert operation(scope).state == Operation.State.SEALED  # type: ignore[union-attr]
    replays: list[Any] = []
    assert statements_and_commits(lambda: replays.append(post(client, "/one/a/"))) == (1, 0)
    assert replays[0]["Idempotent-Replayed"] == "true" and replays[0].content == first.content
    assert rows("a") == 1 and count("a") == 1


def test_an_exception_rolls_back_the_admission_and_a_retry_runs(client: Client, scope: str) -> None:
    with hook("a", fail_once()):
        assert post(client, "/one/a/").status_code == 500
        assert rows("a") == 0 and count("a") == 0 and operation(scope) is None
        retry = post(client, "/one/a/")
    assert retry.status_code == 201 and not retry.has_header("Idempotent-Replayed")
    assert rows("a") == 1 and count("a") == 1


def test_a_5xx_rolls_back_and_an_unsealed_reply_keeps_the_writes_without_a_row(client: Client, scope: str) -> None:
    assert post(client, "/one/a/?status=503").status_code == 503
    assert rows("a") == 0 and operation(scope) is None
    assert post(client, "/one/b/?status=302", key="k-2").status_code == 302
    assert rows("b") == 1 and operation(scope, "k-2") is None


@pytest.mark.parametrize("prefix", ["/one", "/two"])
def test_outcomes_match_the_default_mode(client: Client, prefix: str) -> None:
    """The same sequence of requests gets the same answers in both modes."""
    first = post(client, f"{prefix}/a/")
    replay = post(client, f"{prefix}/a/")
    conflict = post(client, f"{prefix}/a/", data={"amount": 2})
    assert (first.status_code, replay.status_code, replay["Idempotent-Replayed"]) == (201, 201, "true")
    assert conflict.status_code == 422 and problem(conflict)["code"] == "fingerprint-mismatch"
    assert rows("a") == 1


def test_the_option_is_checked_and_refused_on_async_views() -> None:
    with pytest.raises(ImproperlyConfigured, match="admission"):
        exactly_once(admission="later")

    async def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    with pytest.raises(ImproperlyConfigured):
        exactly_once(admission="in_transaction")(view)


def _race(client_user: Any, url: str, racers: int) -> list[Any]:
    barrier = threading.Barrier(racers)
    results: list[Any] = [None] * racers

    def racer(i: int) -> None:
        c = Client(raise_request_exception=False)
        c.force_login(client_user)
        try:
            barrier.wait()
            results[i] = post(c, url)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(racers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@needs_postgres
def test_32_racers_on_one_key_run_the_view_once(user: Any, settings: Any, pg_admission: dict[str, Any]) -> None:
    settings.OP_STORE = {**pg_admission, "WAIT": 0}
    results = _race(user, "/one/a/?sleep=0.2", 32)
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(201) >= 1
    assert set(statuses) <= {201, 409}, statuses
    fresh = [r for r in results if r.status_code == 201 and not r.has_header("Idempotent-Replayed")]
    assert len(fresh) == 1
    assert all(r["Retry-After"] == "1" for r in results if r.status_code == 409)
    assert count("a") == 1 and rows("a") == 1


@needs_postgres
def test_with_wait_duplicates_get_the_replay_once_the_first_commits(
    user: Any, settings: Any, pg_admission: dict[str, Any]
) -> None:
    settings.OP_STORE = {**pg_admission, "WAIT": 5}
    results = _race(user, "/one/a/?sleep=0.2", 8)
    assert [r.status_code for r in results] == [201] * 8
    assert sum(not r.has_header("Idempotent-Replayed") for r in results) == 1
    assert len({r.content for r in results}) == 1
    assert count("a") == 1


@needs_postgres
def test_a_duplicate_is_answered_in_flight_without_waiting_for_the_first(
    user: Any, settings: Any, pg_admission: dict[str, Any]
) -> None:
    settings.OP_STORE = {**pg_admission, "WAIT": 0}
    started = threading.Event()
    answered: list[tuple[int, float]] = []

    def duplicate(request: Any) -> None:
        started.set()
        time.sleep(0.5)  # the first holds the operation's lock while the duplicate asks

    def second() -> None:
        started.wait(5)
        c = Client(raise_request_exception=False)
        c.force_login(user)
        t0 = time.monotonic()
        answered.append((post(c, "/one/a/").status_code, time.monotonic() - t0))
        connections.close_all()

    thread = threading.Thread(target=second)
    thread.start()
    c = Client(raise_request_exception=False)
    c.force_login(user)
    with hook("a", duplicate):
        assert post(c, "/one/a/").status_code == 201
    thread.join()
    assert answered[0][0] == 409
    assert answered[0][1] < 0.4
    assert count("a") == 1
