"""A reply over ``MAX_RESPONSE_BYTES`` never lets a retry run the work again once its writes may stand.

Two modes, for views and RPC methods alike:

- **transactional** (an atomic view or method, ``ATOMIC_REQUESTS``): the writes roll back and the key
  is released, so a retry runs again, and that is safe: the first run left nothing;
- **not transactional** (a plain view, a non-atomic method, a store outside the database): the writes
  are committed before the reply is measured, so the refusal itself is recorded for the key and every
  retry gets it again (``Idempotent-Replayed: true``) instead of a second run.

Executions are counted where a rollback cannot erase them (in memory) and where it can (rows).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.test import AsyncClient, Client

from op_store.models import Operation
from tests.support.live.support import apost, count, hook, operation, post, problem, rows
from tests.support.rpc_services import RUNS, db_runs

pytestmark = pytest.mark.django_db(transaction=True)

LIMIT = 50


@pytest.fixture(autouse=True)
def small_replies(settings: Any) -> None:
    settings.OP_STORE = {"MAX_RESPONSE_BYTES": LIMIT}


@pytest.fixture
def runs() -> Iterator[list[str]]:
    """Runs of the row-writing views (``_write_row`` calls the hook named after the view's name)."""
    seen: list[str] = []
    with hook("a", lambda request: seen.append(request.path)):
        yield seen


def _too_large(response: Any, limit: int = LIMIT) -> dict[str, Any]:
    assert response.status_code == 500, response.content[:300]
    body = problem(response)
    assert body["code"] == "response-too-large" and body["max_response_bytes"] == limit
    assert body["response_bytes"] > limit
    return body


def _replayed_refusal(first: Any, again: Any, limit: int = LIMIT) -> None:
    """The retry got the first answer back, recorded, and did not run the work."""
    _too_large(first, limit)
    _too_large(again, limit)
    assert "Idempotent-Replayed" not in first
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert again["Content-Type"] == "application/problem+json"


# --- views that are not transactional: the refusal is recorded ------------------------------------


def test_plain_view_runs_once_and_retries_get_the_recorded_refusal(alice: Client, scope: str) -> None:
    first = post(alice, "/lc/big/a/?size=51")
    again = post(alice, "/lc/big/a/?size=51")
    _replayed_refusal(first, again)
    assert count("a") == 1
    op = operation(scope)
    assert op is not None and op.state == Operation.State.SEALED and op.status_code == 500


def test_refusal_says_the_effects_stand(alice: Client) -> None:
    detail = _too_large(post(alice, "/lc/big/a/?size=51"))["detail"]
    assert "not run again" in detail


def test_non_atomic_view_under_atomic_requests_runs_once(alice: Client, atomic_requests: None, runs: list[str]) -> None:
    """``non_atomic_requests`` opts the view out of the transaction: its row is committed, so kept."""
    first = post(alice, "/lc/non-atomic/a/")
    again = post(alice, "/lc/non-atomic/a/")
    _replayed_refusal(first, again)
    assert len(runs) == 1 and rows("a") == 1


def test_async_view_runs_once(user: User, scope: str) -> None:
    client = AsyncClient(raise_request_exception=False)
    client.force_login(user)
    first = async_to_sync(apost)(client, "/lc/async/a/")
    again = async_to_sync(apost)(client, "/lc/async/a/")
    _replayed_refusal(first, again)
    assert count("a") == 1


def test_middleware_view_runs_once(alice: Client, settings: Any) -> None:
    settings.MIDDLEWARE = [*django_settings.MIDDLEWARE, "op_store.middleware.ExactlyOnceMiddleware"]
    first = post(alice, "/lc/mw/a/")
    again = post(alice, "/lc/mw/a/")
    _replayed_refusal(first, again)
    assert count("a") == 1


def test_a_new_key_runs_again(alice: Client) -> None:
    """Only the key is settled: the same request under another key is another operation."""
    post(alice, "/lc/big/a/?size=51")
    _too_large(post(alice, "/lc/big/a/?size=51", key="k-2"))
    assert count("a") == 2


# --- transactional views: rolled back, so a retry may run again ---------------------------------


def test_atomic_view_rolls_back_releases_and_reruns(alice: Client, scope: str, runs: list[str]) -> None:
    first = post(alice, "/lc/tx/a/")
    again = post(alice, "/lc/tx/a/")
    _too_large(first)
    _too_large(again)
    assert "Idempotent-Replayed" not in again
    assert len(runs) == 2 and rows("a") == 0 and count("a") == 0
    assert operation(scope) is None


def test_atomic_requests_view_rolls_back_releases_and_reruns(
    alice: Client, scope: str, atomic_requests: None, runs: list[str]
) -> None:
    _too_large(post(alice, "/lc/maybe-atomic/a/"))
    _too_large(post(alice, "/lc/maybe-atomic/a/"))
    assert len(runs) == 2 and rows("a") == 0 and operation(scope) is None


def test_rolled_back_refusal_says_a_retry_runs_again(alice: Client) -> None:
    detail = _too_large(post(alice, "/lc/tx/a/"))["detail"]
    assert "rolled back" in detail


# --- RPC -----------------------------------------------------------------------------------------


@pytest.fixture
def rpc_runs() -> Iterator[Any]:
    RUNS.clear()
    yield RUNS
    RUNS.clear()


def _call(client: Client, prefix: str, method: str, args: dict[str, Any], op: int) -> Any:
    return client.post(
        f"{prefix}bank/{method}",
        json.dumps(args).encode(),
        content_type="application/json",
        HTTP_VOX_OPERATION_ID=str(op),
    )


def test_rpc_method_outside_a_transaction_runs_once(alice: Client, rpc_runs: Any) -> None:
    """The memory store is not in the database: the method's own transaction commits before the seal."""
    op = random.getrandbits(64)
    first = _call(alice, "/rpc-mem/", "big", {"size": 1000}, op)
    again = _call(alice, "/rpc-mem/", "big", {"size": 1000}, op)
    _replayed_refusal(first, again)
    assert db_runs("big") == 1 and rpc_runs["big"] == 1


def test_non_atomic_rpc_method_runs_once(alice: Client, rpc_runs: Any, settings: Any) -> None:
    settings.OP_STORE = {"MAX_RESPONSE_BYTES": 1}  # slow's reply is a few bytes
    op = random.getrandbits(64)
    first = _call(alice, "/rpc/", "slow", {"seconds": 0, "name": "oversized"}, op)
    again = _call(alice, "/rpc/", "slow", {"seconds": 0, "name": "oversized"}, op)
    _replayed_refusal(first, again, limit=1)
    assert rpc_runs["oversized"] == 1
    assert Operation.objects.get(operation_id=op).state == Operation.State.SEALED


def test_atomic_rpc_method_rolls_back_releases_and_reruns(alice: Client, rpc_runs: Any) -> None:
    op = random.getrandbits(64)
    _too_large(_call(alice, "/rpc/", "big", {"size": 1000}, op))
    again = _call(alice, "/rpc/", "big", {"size": 1000}, op)
    _too_large(again)
    assert "Idempotent-Replayed" not in again
    assert rpc_runs["big"] == 2 and db_runs("big") == 0
    assert not Operation.objects.filter(operation_id=op).exists()
