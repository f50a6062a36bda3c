"""DRF viewsets, generic views and handler methods with exactly-once, through DRF's ``APIClient``.

The views are in tests/drfapp/views.py: ``NoteViewSet`` (a ``ModelViewSet`` with
``ExactlyOnceMixin``, whose ``create`` writes a ``Note`` row), a generic ``CreateAPIView`` with the
mixin and a required key, an ``APIView`` handler, and ``@api_view`` functions.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import override_settings
from rest_framework.test import APIClient, APIRequestFactory

from op_store.decorators import MARKER, exactly_once
from op_store.drf import ExactlyOnceMixin
from op_store.lifecycle.fingerprints import default_fingerprint
from op_store.lifecycle.keys import operation_id_for_key
from op_store.models import Operation
from op_store.store.orm import DjangoOperationStore
from tests.drfapp.models import ApiToken, Note
from tests.support.live.support import operation, problem

pytestmark = pytest.mark.django_db(transaction=True)

ENVELOPING = {"EXCEPTION_HANDLER": "tests.drfapp.views.enveloping_exception_handler"}
DECLINING = {"EXCEPTION_HANDLER": "tests.drfapp.views.declining_exception_handler"}


@pytest.fixture
def token_client(user: User) -> APIClient:
    """Alice authenticated by DRF's TokenAuthentication only: no session, so Django sees her as anonymous."""
    ApiToken.objects.create(key="alice-token", user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token alice-token")
    return client


@pytest.fixture
def session_client(user: User) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def send(client: APIClient, method: str, path: str, data: Any = None, key: str | None = "k-1") -> Any:
    extra = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return getattr(client, method)(path, data, format="json", **extra)


def body(response: Any) -> Any:
    return json.loads(response.content)


# --- the mixin on a ModelViewSet -----------------------------------------------------------------


def test_create_writes_one_row_per_key_and_replays_it_byte_for_byte(token_client: APIClient) -> None:
    first = send(token_client, "post", "/drf/notes/", {"text": "hello"})
    assert first.status_code == 201, first.content
    assert not first.has_header("Idempotent-Replayed")
    for _ in range(3):
        again = send(token_client, "post", "/drf/notes/", {"text": "hello"})
        assert again.status_code == 201
        assert again.content == first.content  # same id, same nonce: create did not run again
        assert again["Content-Type"] == first["Content-Type"] == "application/json"
        assert again["Idempotent-Replayed"] == "true"
    assert Note.objects.count() == 1
    other = send(token_client, "post", "/drf/notes/", {"text": "hello"}, key="k-2")
    assert other.status_code == 201 and body(other)["id"] != body(first)["id"]
    assert Note.objects.count() == 2


def test_create_without_a_key_runs_every_time(token_client: APIClient) -> None:
    for _ in range(2):
        assert send(token_client, "post", "/drf/notes/", {"text": "hi"}, key=None).status_code == 201
    assert Note.objects.count() == 2


def test_update_partial_update_and_destroy_are_exactly_once(token_client: APIClient) -> None:
    note = Note.objects.create(text="before")
    path = f"/drf/notes/{note.pk}/"
    put = send(token_client, "put", path, {"text": "put"}, key="put-1")
    assert put.status_code == 200 and body(put)["text"] == "put"
    Note.objects.filter(pk=note.pk).update(text="changed elsewhere")
    put_again = send(token_client, "put", path, {"text": "put"}, key="put-1")
    assert put_again.content == put.content and put_again["Idempotent-Replayed"] == "true"
    assert Note.objects.get(pk=note.pk).text == "changed elsewhere"  # the retry did not write

    patch = send(token_client, "patch", path, {"text": "patched"}, key="patch-1")
    assert patch.status_code == 200
    assert send(token_client, "patch", path, {"text": "patched"}, key="patch-1").content == patch.content

    gone = send(token_client, "delete", path, key="delete-1")
    assert gone.status_code == 204
    again = send(token_client, "delete", path, key="delete-1")
    assert again.status_code == 204 and again["Idempotent-Replayed"] == "true"  # not 404: the first answer
    assert not Note.objects.filter(pk=note.pk).exists()


def test_reads_are_not_tracked(token_client: APIClient) -> None:
    Note.objects.create(text="n")
    assert send(token_client, "get", "/drf/notes/", key="read-1").status_code == 200
    assert Operation.objects.count() == 0


def test_a_decorated_action_keeps_its_own_options(token_client: APIClient) -> None:
    note = Note.objects.create(text="n")
    missing = send(token_client, "post", f"/drf/notes/{note.pk}/pin/", key=None)
    assert missing.status_code == 400 and problem(missing)["code"] == "missing-key"
    pinned = send(token_client, "post", f"/drf/notes/{note.pk}/pin/", key="pin-1")
    assert pinned.status_code == 200 and body(pinned)["pinned"] is True
    assert send(token_client, "post", f"/drf/notes/{note.pk}/pin/", key="pin-1").content == pinned.content
    assert send(token_client, "post", f"/drf/notes/{note.pk}/touch/", key=None).status_code == 200


# --- problems: problem+json by default, the project's exception handler when it has one --------


def test_conflict_is_problem_json_with_drfs_default_handler(token_client: APIClient) -> None:
    assert send(token_client, "post", "/drf/notes/", {"text": "one"}).status_code == 201
    conflict = send(token_client, "post", "/drf/notes/", {"text": "two"})
    assert conflict.status_code == 422
    assert problem(conflict)["type"] == "urn:op-store:problem:fingerprint-mismatch"
    assert Note.objects.count() == 1


def test_conflict_goes_through_a_custom_exception_handler(token_client: APIClient) -> None:
    assert send(token_client, "post", "/drf/notes/", {"text": "one"}).status_code == 201
    with override_settings(REST_FRAMEWORK=ENVELOPING):
        conflict = send(token_client, "post", "/drf/notes/", {"text": "two"})
    assert conflict.status_code == 422
    assert conflict["Content-Type"] == "application/json"  # rendered by the view's JSONRenderer
    error = body(conflict)["error"]
    assert error["kind"] == "urn:op-store:problem:fingerprint-mismatch"
    assert error["status"] == 422
    assert "different request" in error["message"]
    assert Note.objects.count() == 1


def test_retry_after_reaches_the_handler(token_client: APIClient, scope: str) -> None:
    # Another request with this key is running: its admission, with the fingerprint of send()'s request.
    request = APIRequestFactory().post("/drf/notes/", {"text": "slow"}, format="json")
    admission = DjangoOperationStore(scope).try_admit(
        operation_id_for_key("k-1"), fingerprint=default_fingerprint(request), lease=timedelta(minutes=1), key="k-1"
    )
    assert admission.admitted
    with override_settings(REST_FRAMEWORK=ENVELOPING):
        busy = send(token_client, "post", "/drf/notes/", {"text": "slow"})
    assert busy.status_code == 409
    assert body(busy)["error"]["kind"] == "urn:op-store:problem:in-flight"
    assert busy["Retry-After"] == "1"  # DRF's own handler turns the exception's wait into the header


def test_a_handler_that_returns_none_leaves_problem_json(token_client: APIClient) -> None:
    assert send(token_client, "post", "/drf/notes/", {"text": "one"}).status_code == 201
    with override_settings(REST_FRAMEWORK=DECLINING):
        conflict = send(token_client, "post", "/drf/notes/", {"text": "two"})
    assert conflict.status_code == 422 and problem(conflict)["code"] == "fingerprint-mismatch"


def test_the_views_own_errors_still_go_through_the_handler(token_client: APIClient) -> None:
    with override_settings(REST_FRAMEWORK=ENVELOPING):
        invalid = send(token_client, "post", "/drf/notes/", {"text": ""})
        assert invalid.status_code == 400 and body(invalid)["error"]["status"] == 400
        again = send(token_client, "post", "/drf/notes/", {"text": ""})
    assert again.content == invalid.content and again["Idempotent-Replayed"] == "true"  # a 400 is sealed


# --- whose key: DRF's authentication, not Django's --------------------------------------------


def test_token_users_keys_are_scoped_to_the_user(token_client: APIClient, scope: str) -> None:
    created = send(token_client, "post", "/drf/notes/", {"text": "t"})
    assert created.status_code == 201  # not 403 anonymous-key: the scope was resolved after DRF's authentication
    op = operation(scope)
    assert op is not None and op.state == Operation.State.SEALED


def test_session_users_keys_are_scoped_to_the_user(session_client: APIClient, scope: str) -> None:
    assert send(session_client, "post", "/drf/notes/", {"text": "s"}).status_code == 201
    assert operation(scope) is not None


def test_one_user_by_token_or_session_shares_keys(token_client: APIClient, session_client: APIClient) -> None:
    first = send(token_client, "post", "/drf/notes/", {"text": "x"})
    by_session = send(session_client, "post", "/drf/notes/", {"text": "x"})
    assert by_session.content == first.content and by_session["Idempotent-Replayed"] == "true"
    assert Note.objects.count() == 1


def test_another_users_same_key_runs_again(token_client: APIClient) -> None:
    first = send(token_client, "post", "/drf/notes/", {"text": "x"})
    bob = User.objects.create(username="bob")
    ApiToken.objects.create(key="bob-token", user=bob)
    bob_client = APIClient()
    bob_client.credentials(HTTP_AUTHORIZATION="Token bob-token")
    second = send(bob_client, "post", "/drf/notes/", {"text": "x"})
    assert second.status_code == 201 and not second.has_header("Idempotent-Replayed")
    assert body(second)["id"] != body(first)["id"]
    assert Operation.objects.filter(scope=f"user:{bob.pk}").count() == 1


def test_anonymous_key_is_refused_but_anonymous_without_key_runs() -> None:
    client = APIClient()
    refused = send(client, "post", "/drf/notes/", {"text": "a"})
    assert refused.status_code == 403 and problem(refused)["code"] == "anonymous-key"
    assert Note.objects.count() == 0
    assert send(client, "post", "/drf/notes/", {"text": "a"}, key=None).status_code == 201


def test_api_view_function_with_the_decorator_inside_sees_token_users(token_client: APIClient, scope: str) -> None:
    first = send(token_client, "post", "/drf/inner-fn/")
    assert first.status_code == 201
    assert send(token_client, "post", "/drf/inner-fn/").content == first.content
    assert operation(scope) is not None and Note.objects.count() == 1


# --- the mixin on a generic view, and its options ------------------------------------------------


def test_generic_view_with_required_key(token_client: APIClient) -> None:
    missing = send(token_client, "post", "/drf/notes-required/", {"text": "r"}, key=None)
    assert missing.status_code == 400 and problem(missing)["code"] == "missing-key"
    first = send(token_client, "post", "/drf/notes-required/", {"text": "r"})
    assert first.status_code == 201
    assert send(token_client, "post", "/drf/notes-required/", {"text": "r"}).content == first.content
    assert Note.objects.count() == 1


class _Base:
    def create(self) -> str:
        return "created"

    def destroy(self) -> str:
        return "destroyed"


def test_mixin_wraps_the_named_handlers_with_its_options() -> None:
    class Viewish(ExactlyOnceMixin, _Base):
        exactly_once_actions = ("create", "missing")
        exactly_once_options = {"required": True, "wait": 2}

    options = getattr(Viewish.create, MARKER)
    assert options.required is True and options.wait == 2.0
    assert getattr(Viewish.destroy, MARKER, None) is None  # not named
    assert not hasattr(Viewish, "missing")


def test_a_subclass_rewraps_from_the_undecorated_handler() -> None:
    class Parent(ExactlyOnceMixin, _Base):
        exactly_once_options = {"required": True}

    class Child(Parent):
        exactly_once_options = {"required": False}

    assert getattr(Parent.create, MARKER).required is True
    assert getattr(Child.create, MARKER).required is False
    assert Child.create.__wrapped__ is _Base.create  # one layer, not a wrapper around the parent's


def test_a_subclass_that_changes_nothing_keeps_its_parents_handlers() -> None:
    class Parent(ExactlyOnceMixin, _Base):
        exactly_once_options = {"required": True}

    class Child(Parent):
        def destroy(self) -> str:
            return "mine"

    assert Child.create is Parent.create  # not wrapped a second time
    assert getattr(Child.destroy, MARKER).required is True  # its own handler: wrapped with the inherited options
    assert Child.destroy.__wrapped__.__qualname__.endswith("Child.destroy")


def test_a_handler_decorated_by_the_class_keeps_its_options() -> None:
    class Explicit(ExactlyOnceMixin, _Base):
        @exactly_once(wait=5)
        def create(self) -> str:
            return "mine"

    assert getattr(Explicit.create, MARKER).wait == 5.0


# --- next to ExactlyOnceMiddleware ---------------------------------------------------------------


@pytest.mark.parametrize("route", ["/drf/notes/", "/drf/inner-fn/"])
def test_the_middleware_leaves_drf_handlers_to_their_decorator(
    token_client: APIClient, scope: str, settings: Any, route: str
) -> None:
    """Were the middleware to handle these, it would resolve the scope before DRF's token authentication (403)."""
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "op_store.middleware.ExactlyOnceMiddleware"]
    first = send(token_client, "post", route, {"text": "m"})
    assert first.status_code == 201, first.content
    assert send(token_client, "post", route, {"text": "m"}).content == first.content
    assert operation(scope) is not None
