"""Every admission outcome through Django's test client, for function, class-based and DRF views, sync and async."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.db import connection
from django.test import AsyncClient, Client, RequestFactory

from op_store.engine import runner
from op_store.lifecycle.keys import operation_id_for_key
from op_store.models import Operation
from op_store.signals import operation_replayed
from op_store.testing import FakeClock, crash_after_admission, in_flight
from tests.support.live.support import (
    apost,
    count,
    make_stale,
    operation,
    post,
    preadmit,
    problem,
    seal_as_owner,
    stored_reply,
)

pytestmark = pytest.mark.django_db(transaction=True)

#: view kind -> URL pattern; every kind bumps Counter(name) once per run.
KINDS = {
    "function": "/lc/fn/{}/",
    "async function": "/lc/async/{}/",
    "cbv dispatch": "/lc/cbv/{}/",
    "cbv class-decorated": "/lc/cbv-class/{}/",
    "cbv handler": "/lc/cbv-method/{}/",
    "async cbv": "/lc/cbv-async/{}/",
    "drf api_view": "/lc/drf-fn/{}/",
    "drf handler": "/lc/drf-handler/{}/",
    "drf dispatch": "/lc/drf-dispatch/{}/",
}
ASYNC_KINDS = ["function", "async function", "cbv dispatch", "async cbv", "drf api_view"]


@pytest.fixture
def alice(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def alice_async(user: User) -> AsyncClient:
    client = AsyncClient()
    client.force_login(user)
    return client


def _body(response: Any) -> dict[str, Any]:
    return json.loads(response.content)


@pytest.mark.parametrize("kind", KINDS)
def test_first_request_runs_and_retries_replay_it(alice: Client, scope: str, kind: str) -> None:
    path = KINDS[kind].format("a")
    first = post(alice, path)
    assert first.status_code == 201, first.content
    assert not first.has_header("Idempotent-Replayed")
    for _ in range(2):
        again = post(alice, path)
        assert again.status_code == 201
        assert again.content == first.content  # byte-identical, same nonce: the view did not run again
        assert again["Content-Type"] == first["Content-Type"]
        assert again["Idempotent-Replayed"] == "true"
    assert count("a") == 1
    op = operation(scope)
    assert op is not None and op.state == Operation.State.SEALED and op.status_code == 201


@pytest.mark.parametrize("kind", ASYNC_KINDS)
def test_asgi_first_request_runs_and_retries_replay_it(alice_async: AsyncClient, kind: str) -> None:
    path = KINDS[kind].format("a")
    first = async_to_sync(apost)(alice_async, path)
    again = async_to_sync(apost)(alice_async, path)
    assert first.status_code == 201, first.content
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert count("a") == 1


def test_replay_repeats_status_stored_headers_and_body_only(alice: Client, scope: str) -> None:
    first = post(alice, "/lc/fn/a/")
    assert first.cookies["visited"].value == "yes"
    assert first["X-Not-Stored"] == "per-response"
    again = post(alice, "/lc/fn/a/")
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert again["Location"] == first["Location"] == "/things/a/"
    assert again["Content-Type"] == first["Content-Type"]
    assert "visited" not in again.cookies  # Set-Cookie is never replayed
    assert not again.has_header("X-Not-Stored")  # not in STORED_HEADERS
    reply = stored_reply(scope)
    names = {name.lower() for name, _ in reply.headers}
    assert names == {"content-type", "location"}
    assert reply.body == first.content and reply.status == 201


def test_replay_sends_the_signal(alice: Client, scope: str) -> None:
    seen: list[dict[str, Any]] = []

    def receiver(**kwargs: Any) -> None:
        seen.append(kwargs)

    operation_replayed.connect(receiver)
    try:
        post(alice, "/lc/fn/a/")
        post(alice, "/lc/fn/a/")
    finally:
        operation_replayed.disconnect(receiver)
    assert len(seen) == 1
    assert seen[0]["scope"] == scope and seen[0]["operation_id"] == operation_id_for_key("k-1")
    assert seen[0]["status_code"] == 201


@pytest.mark.parametrize("kind", KINDS)
def test_same_key_different_request_is_422(alice: Client, kind: str) -> None:
    path = KINDS[kind].format("a")
    assert post(alice, path, data={"amount": 1}).status_code == 201
    conflict = post(alice, path, data={"amount": 2})
    assert conflict.status_code == 422
    assert problem(conflict)["code"] == "fingerprint-mismatch"
    other_path = post(alice, KINDS[kind].format("b"))
    assert other_path.status_code == 422
    assert count("a") == 1 and count("b") == 0


@pytest.mark.parametrize("kind", KINDS)
def test_in_flight_is_409_with_retry_after(alice: Client, user: User, kind: str) -> None:
    path = KINDS[kind].format("a")
    other = Client()
    other.force_login(user)
    with in_flight(lambda: post(alice, path)) as first:
        response = post(other, path)
        assert count("a") == 0
    assert response.status_code == 409
    assert response["Retry-After"] == "1"
    assert problem(response)["code"] == "in-flight"
    assert first.result.status_code == 201 and count("a") == 1


@pytest.mark.parametrize("kind", ASYNC_KINDS)
def test_asgi_in_flight_is_409(alice_async: AsyncClient, scope: str, kind: str) -> None:
    path = KINDS[kind].format("a")
    preadmit(scope, path)
    response = async_to_sync(apost)(alice_async, path)
    assert response.status_code == 409 and response["Retry-After"] == "1"


def test_in_flight_conflict_is_still_422(alice: Client, scope: str) -> None:
    preadmit(scope, "/lc/fn/a/")
    response = post(alice, "/lc/fn/a/", data={"amount": 9})
    assert response.status_code == 422


@pytest.mark.parametrize("kind", KINDS)
def test_stale_is_indeterminate_by_default(alice: Client, scope: str, kind: str, op_store_clock: FakeClock) -> None:
    path = KINDS[kind].format("a")
    with crash_after_admission():
        post(alice, path)
    op_store_clock.advance(seconds=61)  # past the default 60-second lease
    response = post(alice, path)
    assert response.status_code == 409
    assert problem(response)["code"] == "indeterminate"
    assert not response.has_header("Retry-After")
    assert count("a") == 0
    assert operation(scope).state == Operation.State.ADMITTED  # type: ignore[union-attr]


def test_stale_reexecute_takes_over_and_runs(alice: Client, scope: str, op_store_clock: FakeClock) -> None:
    with crash_after_admission() as crash:
        post(alice, "/lc/reexecute/a/")
    assert count("a") == 0
    op_store_clock.advance(seconds=1)  # the view's lease is 0.2 seconds
    response = post(alice, "/lc/reexecute/a/")
    assert response.status_code == 201 and not response.has_header("Idempotent-Replayed")
    assert count("a") == 1
    op = operation(scope)
    assert op is not None and op.state == Operation.State.SEALED and op.token != crash.admission["token"]
    assert post(alice, "/lc/reexecute/a/").content == response.content


def test_stale_reexecute_if_transactional(alice: Client, scope: str) -> None:
    preadmit(scope, "/lc/reexecute-if-tx/a/", key="tx", transactional=True)
    preadmit(scope, "/lc/reexecute-if-tx/a/", key="not-tx", transactional=False)
    make_stale(scope, "tx")
    make_stale(scope, "not-tx")
    assert post(alice, "/lc/reexecute-if-tx/a/", key="tx").status_code == 201
    refused = post(alice, "/lc/reexecute-if-tx/a/", key="not-tx")
    assert refused.status_code == 409 and problem(refused)["code"] == "indeterminate"
    assert count("a") == 1


def test_expired_tombstone_is_410(alice: Client, scope: str) -> None:
    post(alice, "/lc/fn/a/")
    Operation.objects.filter(scope=scope).update(state=Operation.State.EXPIRED, response=None)
    response = post(alice, "/lc/fn/a/")
    assert response.status_code == 410 and problem(response)["code"] == "expired"
    assert count("a") == 1


def test_missing_key_where_required_is_400(alice: Client) -> None:
    for path in ("/lc/required/a/", "/lc/cbv-class/a/"):
        response = post(alice, path, key=None)
        assert response.status_code == 400 and problem(response)["code"] == "missing-key"
    assert alice.get("/lc/cbv-class/a/").status_code == 405  # safe methods never need a key
    assert count("a") == 0
    assert post(alice, "/lc/required/a/").status_code == 201


def test_no_key_runs_the_view_every_time(alice: Client) -> None:
    assert post(alice, "/lc/fn/a/", key=None).status_code == 201
    assert post(alice, "/lc/fn/a/", key=None).status_code == 201
    assert count("a") == 2 and not Operation.objects.exists()


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_IDEMPOTENCY_KEY": "has space"},
        {"HTTP_IDEMPOTENCY_KEY": "x" * 256},
        {"HTTP_IDEMPOTENCY_KEY": '"open'},
        {"HTTP_VOX_OPERATION_ID": "-1"},
        {"HTTP_VOX_OPERATION_ID": str(2**64)},
        {"HTTP_VOX_OPERATION_ID": "abc"},
        {"HTTP_IDEMPOTENCY_KEY": "a", "HTTP_VOX_OPERATION_ID": "1"},
    ],
)
def test_malformed_key_is_400(alice: Client, headers: dict[str, str]) -> None:
    response = post(alice, "/lc/fn/a/", key=None, **headers)
    assert response.status_code == 400 and problem(response)["code"] == "malformed-key"
    assert count("a") == 0


def test_vox_operation_id(alice: Client, scope: str) -> None:
    first = post(alice, "/lc/fn/a/", key=None, HTTP_VOX_OPERATION_ID=str(2**64 - 1))
    again = post(alice, "/lc/fn/a/", key=None, HTTP_VOX_OPERATION_ID=str(2**64 - 1))
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    assert Operation.objects.get(scope=scope).operation_id == 2**64 - 1


def test_quoted_key_is_the_bare_key(alice: Client) -> None:
    first = post(alice, "/lc/fn/a/", key="abc")
    again = post(alice, "/lc/fn/a/", key='"abc"')
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"


def test_two_users_same_key_are_two_operations(alice: Client, user: User) -> None:
    bob_user = User.objects.create(username="bob")
    bob = Client()
    bob.force_login(bob_user)
    a1, b1 = post(alice, "/lc/fn/a/"), post(bob, "/lc/fn/a/")
    assert not b1.has_header("Idempotent-Replayed")
    assert _body(a1)["nonce"] != _body(b1)["nonce"]
    assert count("a") == 2
    a2, b2 = post(alice, "/lc/fn/a/"), post(bob, "/lc/fn/a/")
    assert (a2.content, b2.content) == (a1.content, b1.content)
    scopes = set(Operation.objects.values_list("scope", flat=True))
    assert scopes == {f"user:{user.pk}", f"user:{bob_user.pk}"}
    assert Operation.objects.filter(scope=f"user:{user.pk}").count() == 1


def test_anonymous_without_session_is_refused(client: Client) -> None:
    response = post(client, "/lc/fn/a/")
    assert response.status_code == 403 and problem(response)["code"] == "anonymous-key"
    assert count("a") == 0
    assert post(client, "/lc/fn/a/", key=None).status_code == 201  # without a key it just runs


def test_anonymous_session_is_its_own_scope(client: Client) -> None:
    session_key = client.session.session_key  # creates and saves a session, sets its cookie
    first = post(client, "/lc/fn/a/")
    assert post(client, "/lc/fn/a/").content == first.content
    stranger = Client()
    stranger.session  # noqa: B018  (another session)
    assert not post(stranger, "/lc/fn/a/").has_header("Idempotent-Replayed")
    assert count("a") == 2
    assert Operation.objects.filter(scope=f"session:{session_key}").count() == 1


def test_drf_handler_seals_drf_error_responses(alice: Client) -> None:
    invalid = post(alice, "/lc/drf-handler/a/", data={"amount": 0})
    assert invalid.status_code == 400 and "amount" in _body(invalid)
    again = post(alice, "/lc/drf-handler/a/", data={"amount": 0})
    assert again.content == invalid.content and again["Idempotent-Replayed"] == "true"
    assert count("a") == 1


def test_drf_handler_sees_drf_authentication(alice: Client, user: User) -> None:
    assert _body(post(alice, "/lc/drf-handler/a/"))["user"] == user.username


# --- waiting for an operation in flight ------------------------------------------------------


class _Polls:
    """Spy on the pause between polls; runs ``actions[i]`` before poll ``i``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, actions: dict[int, Any]) -> None:
        self.calls = 0
        self.closed: list[bool] = []
        self.actions = actions
        real = runner.release_connection

        def spy(alias: str | None) -> None:
            real(alias)
            from django.db import connections

            self.closed.append(alias is not None and connections[alias].connection is None)
            self.calls += 1
            action = self.actions.get(self.calls)
            if action is not None:
                action()

        monkeypatch.setattr(runner, "release_connection", spy)


def test_wait_replays_once_the_owner_seals(alice: Client, scope: str, monkeypatch: pytest.MonkeyPatch) -> None:
    owner = preadmit(scope, "/lc/waiting/a/")
    assert owner.token is not None
    polls = _Polls(monkeypatch, {3: lambda: seal_as_owner(scope, "k-1", owner.token, b'{"done": 1}', 201)})
    response = post(alice, "/lc/waiting/a/")
    assert response.status_code == 201 and response.content == b'{"done": 1}'
    assert response["Idempotent-Replayed"] == "true"
    assert polls.calls == 3
    if connection.vendor != "sqlite":  # Django never closes an in-memory SQLite connection
        assert all(polls.closed)  # no connection held while waiting
    assert count("a") == 0


def test_wait_runs_the_view_if_the_owner_releases(alice: Client, scope: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from op_store.store.orm import DjangoOperationStore

    owner = preadmit(scope, "/lc/waiting/a/")
    assert owner.token is not None
    token = owner.token
    release = lambda: DjangoOperationStore(scope).release(operation_id_for_key("k-1"), token)  # noqa: E731
    _Polls(monkeypatch, {2: release})
    response = post(alice, "/lc/waiting/a/")
    assert response.status_code == 201 and not response.has_header("Idempotent-Replayed")
    assert count("a") == 1


def test_wait_gives_up_with_409(alice: Client, scope: str, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.OP_STORE = {"WAIT": 0.3}
    preadmit(scope, "/lc/fn/a/")
    polls = _Polls(monkeypatch, {})
    response = post(alice, "/lc/fn/a/")
    assert response.status_code == 409 and problem(response)["code"] == "in-flight"
    assert polls.calls >= 3  # polled with backoff, not once


def test_async_wait_replays(alice_async: AsyncClient, scope: str, monkeypatch: pytest.MonkeyPatch) -> None:
    owner = preadmit(scope, "/lc/async-waiting/a/")
    assert owner.token is not None
    _Polls(monkeypatch, {2: lambda: seal_as_owner(scope, "k-1", owner.token, b'{"done": 2}', 201)})
    response = async_to_sync(apost)(alice_async, "/lc/async-waiting/a/")
    assert response.content == b'{"done": 2}' and response["Idempotent-Replayed"] == "true"


def test_wait_becomes_indeterminate_when_the_lease_runs_out(
    alice: Client, scope: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    preadmit(scope, "/lc/waiting/a/")
    _Polls(monkeypatch, {1: lambda: make_stale(scope)})
    response = post(alice, "/lc/waiting/a/")
    assert response.status_code == 409 and problem(response)["code"] == "indeterminate"


def test_a_view_decorated_twice_admits_once(user: User) -> None:
    from op_store.decorators import exactly_once
    from tests.testapp.views import bump

    @exactly_once
    @exactly_once
    def view(request: Any) -> Any:
        from django.http import HttpResponse

        return HttpResponse(str(bump("twice")), status=201)

    request = RequestFactory().post("/x/", b"{}", content_type="application/json", HTTP_IDEMPOTENCY_KEY="k")
    request.user = user
    assert view(request).status_code == 201
    assert Operation.objects.count() == 1 and count("twice") == 1


@pytest.mark.django_db(transaction=False)
def test_works_inside_a_test_case_transaction(user: User, scope: str) -> None:
    """The everyday setup of a project's own tests: pytest-django's ``db`` (a TestCase transaction)."""
    client = Client()
    client.force_login(user)
    first = post(client, "/lc/fn/a/")
    assert post(client, "/lc/fn/a/").content == first.content
    assert post(client, "/lc/tx/b/", key="k-2").status_code == 201
    assert count("a") == 1 and operation(scope).state == Operation.State.SEALED  # type: ignore[union-attr]
