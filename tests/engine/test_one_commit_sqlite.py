"""The one-commit mode on an SQLite file whose writer lock another connection holds.

With ``OPTIONS["transaction_mode"] = "IMMEDIATE"`` SQLite takes the writer lock at ``BEGIN``, before
the admission's INSERT; either way a request that cannot get the lock within the busy timeout is
answered 409 in flight (the view does not run, nothing is stored), and its retry runs once the
holder is done. The writer lock is held by a plain ``sqlite3`` connection: another process would
hold it the same way.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import django
import pytest
from django.db import connections
from django.db.backends.sqlite3.base import DatabaseWrapper
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.test.utils import override_settings
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from op_store.decorators import exactly_once
from op_store.models import Operation, Schema

pytestmark = [
    pytest.mark.urls(__name__),
    pytest.mark.filterwarnings("ignore:Overriding setting DATABASES:UserWarning"),
]

RUNS: list[str] = []


@csrf_exempt
@exactly_once(admission="in_transaction", scope=lambda request: "sqlite-file")
def view(request: HttpRequest) -> HttpResponse:
    RUNS.append(request.headers["Idempotency-Key"])
    return HttpResponse("made", status=201)


urlpatterns = [path("one/", view)]


@pytest.fixture(params=["DEFERRED", "IMMEDIATE"])
def sqlite_file(request: Any, tmp_path: Path, monkeypatch: Any, django_db_blocker: Any) -> Iterator[str]:
    """The default alias on an SQLite file in WAL mode (busy timeout 0.2 s) with op_store's tables."""
    if connections["default"].vendor != "sqlite":
        pytest.skip("SQLite's database-wide writer lock")
    if request.param != "DEFERRED" and django.VERSION < (5, 1):
        pytest.skip("OPTIONS['transaction_mode'] is new in Django 5.1")
    name = str(tmp_path / "one-commit.sqlite3")
    options: dict[str, Any] = {"timeout": 0.2}
    if request.param != "DEFERRED":  # SQLite's default; Django before 5.1 knows no transaction_mode
        options["transaction_mode"] = request.param
    settings_dict = {**connections["default"].settings_dict, "NAME": name, "OPTIONS": options}
    conn = DatabaseWrapper(settings_dict, "default")
    monkeypatch.setattr(connections._connections, "default", conn, raising=False)
    RUNS.clear()
    config = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": name, "OPTIONS": options}}
    with override_settings(DATABASES=config, OP_STORE={"WAIT": 0}), django_db_blocker.unblock():
        with conn.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=WAL")
        with conn.schema_editor() as editor:
            editor.create_model(Schema)
            editor.create_model(Operation)
        try:
            yield name
        finally:
            conn.close()


def _post(key: str) -> Any:
    return Client(raise_request_exception=False).post("/one/", HTTP_IDEMPOTENCY_KEY=key)


def test_a_request_that_cannot_get_the_writer_lock_is_answered_in_flight(sqlite_file: str) -> None:
    holder = sqlite3.connect(sqlite_file, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        refused = _post("k-1")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert refused.status_code == 409, refused.content[:300]
    assert refused["Content-Type"] == "application/problem+json"
    assert json.loads(refused.content)["code"] == "in-flight"
    assert refused["Retry-After"] == "1"
    assert RUNS == []
    assert not Operation.objects.exists()

    retried = _post("k-1")
    assert retried.status_code == 201
    assert _post("k-1").status_code == 201  # the replay
    assert RUNS == ["k-1"]
    assert Operation.objects.get().state == Operation.State.SEALED
