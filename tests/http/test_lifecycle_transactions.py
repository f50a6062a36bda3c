"""Transactional seal: the view's writes and its sealed reply commit together or not at all."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import DatabaseError, connections, transaction
from django.test import Client, RequestFactory

from op_store.lifecycle.keys import operation_id_for_key
from op_store.models import Operation
from op_store.store.orm import DjangoOperationStore
from tests.support.live.support import count, fail_once, hook, make_stale, operation, post, problem, rows
from tests.testapp import views

pytestmark = pytest.mark.django_db(transaction=True)


def test_atomic_view_commits_writes_and_seal_together(alice: Client, scope: str, admissions: list[Any]) -> None:
    first = post(alice, "/lc/tx/a/")
    assert first.status_code == 201
    assert rows("a") == 1
    assert operation(scope).state == Operation.State.SEALED  # type: ignore[union-attr]
    assert [a["transactional"] for a in admissions] == [True]
    assert post(alice, "/lc/tx/a/").content == first.content
    assert rows("a") == 1


def test_atomic_view_that_raises_leaves_neither_row_nor_seal(alice: Client, scope: str) -> None:
    with hook("a", fail_once()):
        assert post(alice, "/lc/tx/a/").status_code == 500
        assert rows("a") == 0 and count("a") == 0
        assert operation(scope) is None  # released: the rollback proves it never happened
        retry = post(alice, "/lc/tx/a/")
    assert retry.status_code == 201 and not retry.has_header("Idempotent-Replayed")
    assert rows("a") == 1 and count("a") == 1


def test_atomic_view_5xx_rolls_back_and_releases(alice: Client, scope: str) -> None:
    assert post(alice, "/lc/tx/a/?status=503").status_code == 503
    assert rows("a") == 0 and operation(scope) is None


def test_atomic_view_unsealed_redirect_commits_and_releases(alice: Client, scope: str) -> None:
    """A reply the policy simply does not seal keeps the view's writes, as Django would."""
    assert post(alice, "/lc/tx/a/?status=302").status_code == 302
    assert rows("a") == 1 and operation(scope) is None


def test_atomic_view_oversized_reply_rolls_back(alice: Client, scope: str, settings: Any) -> None:
    settings.OP_STORE = {"MAX_RESPONSE_BYTES": 10}
    response = post(alice, "/lc/tx/a/")
    assert response.status_code == 500 and problem(response)["code"] == "response-too-large"
    assert rows("a") == 0 and operation(scope) is None


def _take_over_from_another_connection(scope: str) -> Any:
    """A hook: another request takes the operation over (its lease ran out) while this view runs."""

    def run(request: Any) -> None:
        errors: list[BaseException] = []

        def other() -> None:
            try:
                op = operation(scope)
                assert op is not None
                make_stale(scope)
                assert DjangoOperationStore(scope).take_over(operation_id_for_key("k-1"), op.token).admitted
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)
            finally:
                connections.close_all()

        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        assert not errors, errors

    return run


def test_ownership_lost_mid_view_rolls_the_writes_back(alice: Client, scope: str) -> None:
    with hook("a:before", _take_over_from_another_connection(scope)):
        response = post(alice, "/lc/tx/a/")
    assert response.status_code == 409
    assert problem(response)["code"] == "ownership-lost" and response["Retry-After"] == "1"
    assert rows("a") == 0 and count("a") == 0
    op = operation(scope)
    assert op is not None and op.state == Operation.State.ADMITTED  # the new owner's


def test_seal_failure_in_a_transaction_rolls_back_and_releases(
    alice: Client, scope: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = DjangoOperationStore.seal_owned

    def broken(*args: Any, **kwargs: Any) -> None:
        raise DatabaseError("disk full")

    monkeypatch.setattr(DjangoOperationStore, "seal_owned", broken)
    response = post(alice, "/lc/tx/a/")
    assert response.status_code == 503 and problem(response)["code"] == "seal-failed"
    assert rows("a") == 0 and operation(scope) is None
    monkeypatch.setattr(DjangoOperationStore, "seal_owned", real)
    assert post(alice, "/lc/tx/a/").status_code == 201
    assert rows("a") == 1


def test_atomic_requests_makes_the_seal_transactional(
    atomic_requests: None, alice: Client, scope: str, admissions: list[Any]
) -> None:
    with hook("a", fail_once()):
        assert post(alice, "/lc/maybe-atomic/a/").status_code == 500
        assert rows("a") == 0 and operation(scope) is None
        assert post(alice, "/lc/maybe-atomic/a/").status_code == 201
    assert rows("a") == 1
    assert [a["transactional"] for a in admissions] == [True, True]
    replay = post(alice, "/lc/maybe-atomic/a/")
    assert replay["Idempotent-Replayed"] == "true" and rows("a") == 1


def test_atomic_requests_ownership_lost_rolls_back(atomic_requests: None, alice: Client, scope: str) -> None:
    with hook("a:before", _take_over_from_another_connection(scope)):
        assert post(alice, "/lc/maybe-atomic/a/").status_code == 409
    assert rows("a") == 0


def test_non_atomic_requests_is_honoured(atomic_requests: None, alice: Client, admissions: list[Any]) -> None:
    with hook("a", fail_once()):
        assert post(alice, "/lc/non-atomic/a/").status_code == 500
    assert rows("a") == 1  # not in a transaction: the write stays
    assert [a["transactional"] for a in admissions] == [False]


def test_without_atomic_requests_the_seal_is_not_transactional(alice: Client, admissions: list[Any]) -> None:
    with hook("a", fail_once()):
        assert post(alice, "/lc/maybe-atomic/a/").status_code == 500
    assert rows("a") == 1
    assert [a["transactional"] for a in admissions] == [False]


def test_drf_handler_under_atomic_requests(atomic_requests: None, alice: Client, scope: str) -> None:
    """Django opens the transaction around a DRF view; the decorated handler seals in a savepoint."""
    ok = post(alice, "/lc/drf-handler/a/")
    assert ok.status_code == 201 and operation(scope).state == Operation.State.SEALED  # type: ignore[union-attr]
    assert post(alice, "/lc/drf-handler/a/").content == ok.content
    # DRF's exception handler marks the transaction for rollback: nothing is sealed, the key is released.
    invalid = post(alice, "/lc/drf-handler/b/", key="k-2", data={"amount": 0})
    assert invalid.status_code == 400 and count("b") == 0
    assert operation(scope, "k-2") is None


def test_view_called_inside_the_callers_transaction(user: User, scope: str, admissions: list[Any]) -> None:
    request = RequestFactory().post("/lc/fn/a/", b"{}", content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1")
    request.user = user
    with transaction.atomic():
        response = views.maybe_atomic_view(request, name="a")
    assert response.status_code == 201
    assert [a["transactional"] for a in admissions] == [True]
    assert rows("a") == 1 and operation(scope).state == Operation.State.SEALED  # type: ignore[union-attr]
