"""``ExactlyOnceMiddleware``: the defaults for every keyed request, never twice for decorated views."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.test import AsyncClient, Client

from op_store.models import Operation
from tests.support.live.support import apost, count, fail_once, hook, operation, post, problem, rows

pytestmark = pytest.mark.django_db(transaction=True)

MIDDLEWARE = "op_store.middleware.ExactlyOnceMiddleware"


@pytest.fixture(autouse=True)
def with_middleware(settings: Any) -> None:
    settings.MIDDLEWARE = [*django_settings.MIDDLEWARE, MIDDLEWARE]


def test_keyed_request_to_an_undecorated_view_is_replayed(alice: Client, scope: str) -> None:
    first = post(alice, "/lc/mw/a/")
    again = post(alice, "/lc/mw/a/")
    assert first.status_code == 201 and again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert count("a") == 1 and operation(scope).state == Operation.State.SEALED  # type: ignore[union-attr]


def test_unkeyed_requests_pass_through(alice: Client) -> None:
    post(alice, "/lc/mw/a/", key=None)
    post(alice, "/lc/mw/a/", key=None)
    assert count("a") == 2 and not Operation.objects.exists()


def test_keyed_request_outcomes_through_the_middleware(alice: Client) -> None:
    post(alice, "/lc/mw/a/")
    assert post(alice, "/lc/mw/a/", data={"amount": 2}).status_code == 422
    bad = post(alice, "/lc/mw/a/", key="bad key")
    assert bad.status_code == 400 and problem(bad)["code"] == "malformed-key"


def test_require_key_refuses_unsafe_requests_without_a_key(alice: Client, settings: Any) -> None:
    settings.OP_STORE = {"REQUIRE_KEY": True}
    response = post(alice, "/lc/mw/a/", key=None)
    assert response.status_code == 400 and problem(response)["code"] == "missing-key"
    assert alice.get("/lc/mw/a/").status_code == 201  # safe methods are never refused
    assert count("a") == 1


def test_decorated_views_are_not_processed_twice(alice: Client, admissions: list[Any]) -> None:
    for path in ("/lc/fn/a/", "/lc/cbv/b/", "/lc/drf-handler/c/", "/lc/drf-fn/d/", "/lc/cbv-method/e/"):
        first = post(alice, path, key=path)
        assert first.status_code == 201, (path, first.content)
        assert post(alice, path, key=path)["Idempotent-Replayed"] == "true"
    assert len(admissions) == 5
    assert [count(n) for n in "abcde"] == [1] * 5


@pytest.mark.parametrize("path", ["/lc/exempt/a/", "/lc/exempt-async/a/", "/lc/exempt-cbv/a/"])
def test_exempt_views_pass_through_with_a_key(path: str, admissions: list[Any]) -> None:
    anonymous = Client()  # the default scope would refuse its key with 403 anonymous-key
    first = post(anonymous, path)
    again = post(anonymous, path)
    assert first.status_code == 201 and json.loads(first.content)["count"] == 1
    assert again.status_code == 201 and json.loads(again.content)["count"] == 2  # ran again: nothing replayed
    assert "Idempotent-Replayed" not in again
    assert admissions == [] and not Operation.objects.exists()


def test_the_same_view_not_exempt_refuses_an_anonymous_key() -> None:
    response = post(Client(), "/lc/mw/a/")
    assert response.status_code == 403 and problem(response)["code"] == "anonymous-key"
    assert count("a") == 0


def test_decorated_view_options_win_over_the_middleware(alice: Client) -> None:
    assert post(alice, "/lc/required/a/", key=None).status_code == 400


def test_async_view_through_the_middleware(alice: Client, user: User) -> None:
    first = post(alice, "/lc/mw-async/a/")
    assert post(alice, "/lc/mw-async/a/").content == first.content
    client = AsyncClient()
    client.force_login(user)
    async_first = async_to_sync(apost)(client, "/lc/mw-async/b/", key="k-2")
    async_again = async_to_sync(apost)(client, "/lc/mw-async/b/", key="k-2")
    assert async_again.content == async_first.content and async_again["Idempotent-Replayed"] == "true"
    sync_view = async_to_sync(apost)(client, "/lc/mw/c/", key="k-3")
    assert async_to_sync(apost)(client, "/lc/mw/c/", key="k-3").content == sync_view.content
    assert (count("a"), count("b"), count("c")) == (1, 1, 1)


def test_atomic_requests_through_the_middleware(
    atomic_requests: None, alice: Client, scope: str, admissions: list[Any]
) -> None:
    with hook("a", fail_once()):
        assert post(alice, "/lc/mw-row/a/").status_code == 500
        assert rows("a") == 0 and operation(scope) is None
        assert post(alice, "/lc/mw-row/a/").status_code == 201
    assert rows("a") == 1
    assert [a["transactional"] for a in admissions] == [True, True]


def test_csrf_still_applies(user: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert post(client, "/lc/mw/a/").status_code == 403
    assert count("a") == 0
