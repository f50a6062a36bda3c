"""Hostile input at the store: text the database refuses, a busy database, a proxy that forgets.

- A NUL byte or a lone surrogate in what the store records for display (``method``, ``key``) is
  stored escaped; the request gets the view's answer, as it would without a key.
- A scope with such characters is refused with a clear ``ValueError`` (a scope is an
  identity: escaping it could make two scopes one).
- A locked SQLite database (a slow transaction elsewhere) answers 503 ``database-busy`` with
  Retry-After, never an HTML 500.
- ``prepared=True`` behind PgBouncer in transaction pooling (which does not track prepared
  statements) falls back to unprepared statements on that connection with a warning.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client
from django.urls import path

from op_store.decorators import exactly_once
from op_store.models import Operation
from op_store.store import DjangoOperationStore
from op_store.store.common import storable_text
from op_store.store.orm import admission_connections
from tests.testapp.models import Row

# --- views of this module (mounted with pytest.mark.urls) --------------------------------------

HELD = threading.Event()
GO_ON = threading.Event()


@exactly_once
def echo_view(request: HttpRequest, name: str) -> HttpResponse:
    """Writes nothing of the path: the same request without a key always succeeds."""
    return JsonResponse({"length": len(name)}, status=201)


def unkeyed_view(request: HttpRequest, name: str) -> HttpResponse:
    return JsonResponse({"length": len(name)}, status=201)


@exactly_once(atomic=True)
def holding_view(request: HttpRequest, name: str) -> HttpResponse:
    """Writes, then holds its transaction (and SQLite's write lock) until the test lets go."""
    Row.objects.create(key=name)
    HELD.set()
    GO_ON.wait(30)
    return JsonResponse({"name": name}, status=201)


urlpatterns = [
    path("echo/<str:name>/", echo_view),
    path("unkeyed/<str:name>/", unkeyed_view),
    path("hold/<str:name>/", holding_view),
]


@pytest.fixture
def pg() -> None:
    if connections["default"].vendor != "postgresql":
        pytest.skip("PostgreSQL refuses NUL in text; SQLite stores it")


# --- NUL and lone surrogates -------------------------------------------------------------------


@pytest.mark.urls(__name__)
@pytest.mark.django_db
def test_a_nul_byte_in_the_path_gets_the_views_answer(alice: Client, scope: str) -> None:
    unkeyed = alice.post("/unkeyed/a%00b/")
    assert unkeyed.status_code == 201
    keyed = alice.post("/echo/a%00b/", HTTP_IDEMPOTENCY_KEY="nul-1")
    assert keyed.status_code == 201, keyed.content[:300]
    assert json.loads(keyed.content) == {"length": 3}
    row = Operation.objects.get(scope=scope)
    assert row.method == "POST /echo/a\\x00b/"
    replay = alice.post("/echo/a%00b/", HTTP_IDEMPOTENCY_KEY="nul-1")
    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "stored"),
    [
        ("POST /a\x00b/", "POST /a\\x00b/"),
        ("POST /\ud800/", "POST /\\ud800/"),
        ("POST /\udcff\x00/", "POST /\\udcff\\x00/"),
        ("POST /back\\slash/", "POST /back\\slash/"),
        ("POST /caf\u00e9/", "POST /caf\u00e9/"),
    ],
)
def test_method_text_is_stored_escaped_only_where_the_database_cannot_hold_it(method: str, stored: str) -> None:
    store = DjangoOperationStore("hostile")
    assert store.try_admit(7, method=method).admitted
    assert Operation.objects.get(scope="hostile", operation_id=7).method == stored


@pytest.mark.django_db
def test_key_text_is_stored_escaped() -> None:
    store = DjangoOperationStore("hostile")
    assert store.try_admit(8, key="k\x00\ud800").admitted
    assert Operation.objects.get(scope="hostile", operation_id=8).key == "k\\x00\\ud800"


@pytest.mark.django_db
def test_escaped_text_is_cut_to_the_column() -> None:
    store = DjangoOperationStore("hostile")
    assert store.try_admit(9, method="\x00" * 255).admitted
    stored = Operation.objects.get(scope="hostile", operation_id=9).method
    assert stored == "\\x00" * 63 + "\\x0"
    assert len(stored) == 255


def test_storable_text_leaves_ordinary_text_alone() -> None:
    assert storable_text("POST /ok/\u00e9\u4e2d/", 255) == "POST /ok/\u00e9\u4e2d/"


@pytest.mark.parametrize("scope", ["a\x00", "\ud800", "t:\udfff"])
def test_a_scope_the_database_cannot_hold_is_refused(scope: str) -> None:
    with pytest.raises(ValueError, match="scope"):
        DjangoOperationStore(scope)


@pytest.mark.django_db
def test_postgres_stores_escaped_text_without_error(pg: None) -> None:
    store = DjangoOperationStore("pg")
    admission = store.try_admit(10, method="POST /\x00\ud800", key="\x00")
    assert admission.admitted
    assert store.try_admit(10, method="POST /\x00\ud800", key="\x00").in_flight


# --- a busy SQLite database ----------------------------------------------------------------------


@pytest.fixture
def held() -> Iterator[None]:
    HELD.clear()
    GO_ON.clear()
    yield
    GO_ON.set()


@pytest.mark.urls(__name__)
@pytest.mark.django_db(transaction=True)
def test_a_locked_sqlite_database_answers_503_database_busy(user: Any, held: None) -> None:
    if connections["default"].vendor != "sqlite":
        pytest.skip("SQLite's database-wide write lock")
    replies: dict[str, Any] = {}
    slow_client, client = Client(raise_request_exception=False), Client(raise_request_exception=False)
    slow_client.force_login(user)
    client.force_login(user)

    def slow() -> None:
        try:
            replies["slow"] = slow_client.post("/hold/a/", HTTP_IDEMPOTENCY_KEY="hold-1")
        finally:
            connections.close_all()

    thread = threading.Thread(target=slow)
    thread.start()
    try:
        assert HELD.wait(10), replies
        other = client.post("/echo/b/", HTTP_IDEMPOTENCY_KEY="other-1")
    finally:
        GO_ON.set()
        thread.join(30)
    assert other.status_code == 503, other.content[:300]
    assert other["Content-Type"] == "application/problem+json"
    assert json.loads(other.content)["code"] == "database-busy"
    assert other["Retry-After"] == "1"
    assert replies["slow"].status_code == 201
    # Nothing was admitted for the refused request: its retry runs the view.
    assert not Operation.objects.filter(key="other-1").exists()


# --- prepared statements behind PgBouncer in transaction pooling --------------------------------


def _pgbouncer_port() -> int:
    return int(os.environ.get("OP_STORE_PGBOUNCER_PORT", "6432"))


@pytest.fixture
def through_pgbouncer() -> Iterator[None]:
    """The default alias pointed at PgBouncer (transaction pooling) for the test, then back."""
    conn = connections["default"]
    if conn.vendor != "postgresql":
        pytest.skip("PgBouncer fronts PostgreSQL")
    port = _pgbouncer_port()
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        pytest.skip(f"nothing listens on 127.0.0.1:{port} (start PgBouncer in transaction pooling, e.g. .ci/pgbouncer)")
    saved = conn.settings_dict["PORT"]
    connections.close_all()
    conn.settings_dict["PORT"] = str(port)
    try:
        yield
    finally:
        connections.close_all()
        admission_connections.close()
        conn.settings_dict["PORT"] = saved


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_prepared_statements_behind_pgbouncer_fall_back_instead_of_failing(
    through_pgbouncer: None, caplog: pytest.LogCaptureFixture
) -> None:
    store = DjangoOperationStore("bouncer", prepared=True)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def other_client() -> None:
        # Another client connection: PgBouncer hands it the server connection the first one just
        # used, where psycopg's first statement name is already taken.
        try:
            for op in range(100, 106):
                outcomes.append(DjangoOperationStore("bouncer", prepared=True).try_admit(op).outcome.value)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    with caplog.at_level(logging.WARNING, logger="op_store"):
        for op in range(1, 6):
            outcomes.append(store.try_admit(op).outcome.value)
            thread = threading.Thread(target=other_client)
            thread.start()
            thread.join()
            outcomes.append(store.try_admit(op).outcome.value)
    assert errors == []
    assert outcomes.count("admitted") == 5 + 6
    assert outcomes.count("in_flight") == 5 + 6 * 4
    warnings = [r for r in caplog.records if "prepared" in r.getMessage()]
    assert 1 <= len(warnings) <= 6  # at most once per client connection (this one and five others)


# --- the system check ------------------------------------------------------------------------------


def test_w006_sqlite_file_not_in_wal_without_atomic_requests(
    tmp_path: Any, monkeypatch: Any, django_db_blocker: Any
) -> None:
    from django.db.backends.sqlite3.base import DatabaseWrapper
    from django.test.utils import override_settings

    from op_store import checks as op_checks

    name = str(tmp_path / "busy.sqlite3")
    config = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": name}}
    conn = DatabaseWrapper({**connections["default"].settings_dict, **config["default"], "OPTIONS": {}}, "default")
    monkeypatch.setattr(connections._connections, "default", conn, raising=False)
    with override_settings(DATABASES=config), django_db_blocker.unblock():
        messages = op_checks.check_sqlite_journal_mode(databases=["default"])
        assert [m.id for m in messages] == ["op_store.W007"]
        assert "'delete'" in messages[0].msg and "database-busy" in messages[0].msg
        with conn.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=WAL")
        assert op_checks.check_sqlite_journal_mode(databases=["default"]) == []
    conn.close()


@pytest.mark.urls(__name__)
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "key", "status", "code"),
    [
        ("/echo/a%00b/", "nul-path", 201, None),
        ("/echo/%ED%A0%80/", "surrogate-bytes-path", 201, None),  # invalid UTF-8: Django re-quotes it
        ("/echo/%F0%9F%98%80/", "emoji-path", 201, None),
        ("/echo/x/?q=%00%ED%A0%80", "nul-query", 201, None),  # the query is fingerprinted, not stored
        ("/echo/x/", "k\x00ey", 400, "malformed-key"),
        ("/echo/x/", "k\u00e9y", 400, "malformed-key"),
        ("/echo/" + "%00" * 240 + "/", "long-nul-path", 201, None),
    ],
)
def test_hostile_request_text_never_makes_a_500(
    alice: Client, url: str, key: str, status: int, code: str | None
) -> None:
    response = alice.post(url, HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == status, response.content[:300]
    if code is not None:
        assert json.loads(response.content)["code"] == code
