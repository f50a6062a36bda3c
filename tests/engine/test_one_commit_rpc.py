"""The one-commit mode over RPC: ``RpcSite(admission="in_transaction")`` for the site's atomic methods."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import include, path

from op_store.models import Operation
from op_store.rpc.site import RpcSite
from tests.support.rpc_services import HOOKS, RUNS, Bank
from tests.testapp.models import Row

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls(__name__)]

one_commit_site = RpcSite([Bank], name="rpc_one_commit", admission="in_transaction")
urlpatterns = [path("rpc/", include(one_commit_site.urls))]
POSTCARD = "application/x-postcard"
_COMMIT = re.compile(r"^\s*COMMIT\b", re.IGNORECASE)


@pytest.fixture(autouse=True)
def _clean() -> Any:
    RUNS.clear()
    HOOKS.clear()
    yield
    HOOKS.clear()


@pytest.fixture
def client() -> Client:
    c = Client()
    c.force_login(User.objects.create(username="alice"))
    return c


def transfer(client: Client, op: int, amount: int) -> Any:
    spec = one_commit_site.lookup("bank", "transfer")
    assert spec is not None
    body = spec.args_codec.encode(("a", "b", amount))
    return client.post(
        "/rpc/bank/transfer", body, content_type=POSTCARD, CONTENT_TYPE=POSTCARD, HTTP_VOX_OPERATION_ID=str(op)
    )


def test_an_atomic_method_commits_once_and_its_replay_commits_nothing(client: Client) -> None:
    op = random.getrandbits(63)
    with CaptureQueriesContext(connection) as fresh:
        first = transfer(client, op, 5)
    assert first.status_code == 200
    assert sum(bool(_COMMIT.match(q["sql"])) for q in fresh.captured_queries) == 1
    assert not any(q["sql"].lstrip().upper().startswith("WITH INS AS") for q in fresh.captured_queries)
    assert Operation.objects.get(operation_id=op).state == Operation.State.SEALED
    with CaptureQueriesContext(connection) as again:
        replay = transfer(client, op, 5)
    assert replay.content == first.content
    assert not any(_COMMIT.match(q["sql"]) for q in again.captured_queries)
    assert Row.objects.filter(key="transfer:a->b").count() == 1


def test_a_user_error_is_sealed_and_its_writes_rolled_back(client: Client) -> None:
    op = random.getrandbits(63)
    failed = transfer(client, op, 5000)
    assert failed.status_code == 200  # Err(User(..)) is a reply, sealed like any other
    assert Operation.objects.get(operation_id=op).state == Operation.State.SEALED
    assert Row.objects.count() == 0
    assert transfer(client, op, 5000).content == failed.content
    assert Row.objects.count() == 0 and RUNS["transfer"] == 1


def test_a_failed_method_leaves_no_operation_and_a_retry_runs_it(client: Client) -> None:
    spec = one_commit_site.lookup("bank", "boom")
    assert spec is not None
    op = random.getrandbits(63)
    body = spec.args_codec.encode(("no",))
    send = lambda: client.post(  # noqa: E731
        "/rpc/bank/boom", body, content_type=POSTCARD, CONTENT_TYPE=POSTCARD, HTTP_VOX_OPERATION_ID=str(op)
    )
    assert send().status_code == 500
    assert not Operation.objects.filter(operation_id=op).exists()
    assert send().status_code == 500  # ran again: nothing recorded the first run
    assert RUNS["boom"] == 2 and Row.objects.count() == 0
