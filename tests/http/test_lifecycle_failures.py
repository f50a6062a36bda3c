"""The seal policy: what is sealed, what releases the key, and what happens when sealing fails."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.db import DatabaseError
from django.test import AsyncClient, Client

from op_store.lifecycle.keys import operation_id_for_key
from op_store.models import Operation
from op_store.store.orm import DjangoOperationStore
from op_store.testing import FakeClock
from tests.support.live.support import apost, count, hook, make_stale, operation, post, problem

pytestmark = pytest.mark.django_db(transaction=True)


def _released(scope: str) -> bool:
    return operation(scope) is None


def test_exception_releases_and_is_reraised(user: User, scope: str) -> None:
    raising = Client()  # raise_request_exception=True: the view's exception reaches the test
    raising.force_login(user)
    with pytest.raises(RuntimeError, match="the view failed"):
        post(raising, "/lc/raising/a/")
    assert _released(scope)
    with pytest.raises(RuntimeError):
        post(raising, "/lc/raising/a/")
    assert count("a") == 2  # a retry runs again


def test_exception_is_a_500_for_the_client(alice: Client, scope: str) -> None:
    assert post(alice, "/lc/raising/a/").status_code == 500
    assert _released(scope)


def test_async_exception_releases(user: User, scope: str) -> None:
    client = AsyncClient(raise_request_exception=False)
    client.force_login(user)
    assert async_to_sync(apost)(client, "/lc/async-raising/a/").status_code == 500
    assert _released(scope)
    assert async_to_sync(apost)(client, "/lc/async-raising/a/").status_code == 500
    assert count("a") == 2


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_releases(alice: Client, scope: str, status: int) -> None:
    path = f"/lc/fn/a/?status={status}"
    assert post(alice, path).status_code == status
    assert _released(scope)
    assert post(alice, path).status_code == status
    assert count("a") == 2


@pytest.mark.parametrize("status", [302, 408, 409, 425, 429])
def test_retry_statuses_and_redirects_are_not_sealed(alice: Client, scope: str, status: int) -> None:
    path = f"/lc/fn/a/?status={status}"
    post(alice, path)
    assert _released(scope)
    assert not post(alice, path).has_header("Idempotent-Replayed")
    assert count("a") == 2


@pytest.mark.parametrize("status", [200, 201, 204, 400, 404, 410, 422])
def test_2xx_and_deterministic_4xx_are_sealed(alice: Client, scope: str, status: int) -> None:
    path = f"/lc/fn/a/?status={status}"
    first = post(alice, path)
    again = post(alice, path)
    assert again.status_code == status and again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert count("a") == 1


def test_per_view_seal_statuses(alice: Client) -> None:
    first = post(alice, "/lc/seal-500/a/?status=500")
    assert post(alice, "/lc/seal-500/a/?status=500").content == first.content
    assert count("a") == 1
    post(alice, "/lc/seal-500/b/?status=404", key="k-2")
    post(alice, "/lc/seal-500/b/?status=404", key="k-2")
    assert count("b") == 2  # 404 is not in this view's seal statuses


def test_setting_seal_statuses_predicate(alice: Client, settings: Any) -> None:
    settings.OP_STORE = {"SEAL_STATUSES": lambda status: status == 202}
    post(alice, "/lc/fn/a/?status=201")
    post(alice, "/lc/fn/a/?status=201")
    assert count("a") == 2
    post(alice, "/lc/fn/b/?status=202", key="k-2")
    assert post(alice, "/lc/fn/b/?status=202", key="k-2")["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("path", ["/lc/streaming/a/", "/lc/file/a/"])
def test_streaming_replies_release(alice: Client, scope: str, path: str) -> None:
    response = post(alice, path)
    assert response.status_code == 200 and response.streaming
    assert b"".join(response.streaming_content)
    assert _released(scope)
    post(alice, path)
    assert count("a") == 2


def test_oversized_reply_is_refused_and_the_refusal_recorded(alice: Client, scope: str, settings: Any) -> None:
    """The view ran outside a transaction, so its effects stand: the key keeps the refusal, never a re-run."""
    settings.OP_STORE = {"MAX_RESPONSE_BYTES": 50}
    response = post(alice, "/lc/big/a/?size=51")
    assert response.status_code == 500
    body = problem(response)
    assert body["code"] == "response-too-large"
    assert (body["response_bytes"], body["max_response_bytes"]) == (51, 50)
    assert not _released(scope)
    again = post(alice, "/lc/big/a/?size=51")
    assert again.status_code == 500 and again.content == response.content
    assert again["Idempotent-Replayed"] == "true"
    assert count("a") == 1
    ok = post(alice, "/lc/big/b/?size=50", key="k-2")
    assert ok.status_code == 200 and post(alice, "/lc/big/b/?size=50", key="k-2").content == ok.content


def test_seal_failure_keeps_the_reply_and_the_admission(
    alice: Client,
    scope: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    op_store_clock: FakeClock,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise DatabaseError("disk full")

    monkeypatch.setattr(DjangoOperationStore, "seal_owned", broken)
    with caplog.at_level(logging.ERROR, logger="op_store.lifecycle"):
        response = post(alice, "/lc/fn/a/")
    assert response.status_code == 201 and b'"count": 1' in response.content  # the view's own reply
    assert "sealing" in caplog.text and "disk full" in caplog.text
    assert operation(scope).state == Operation.State.ADMITTED  # type: ignore[union-attr]
    monkeypatch.undo()
    busy = post(alice, "/lc/fn/a/")
    assert busy.status_code == 409 and problem(busy)["code"] == "in-flight"
    op_store_clock.advance(seconds=61)  # past the default 60-second lease
    retry = post(alice, "/lc/fn/a/")
    assert retry.status_code == 409 and problem(retry)["code"] == "indeterminate"
    assert count("a") == 1  # never re-run


def test_release_failure_is_logged(
    alice: Client, scope: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> bool:
        raise DatabaseError("gone")

    monkeypatch.setattr(DjangoOperationStore, "release", broken)
    with caplog.at_level(logging.ERROR, logger="op_store.lifecycle"):
        assert post(alice, "/lc/fn/a/?status=500").status_code == 500
    assert "could not release" in caplog.text
    assert operation(scope).state == Operation.State.ADMITTED  # type: ignore[union-attr]


def test_ownership_lost_without_transaction_returns_the_reply(
    alice: Client, scope: str, caplog: pytest.LogCaptureFixture
) -> None:
    def take_over(request: Any) -> None:
        store = DjangoOperationStore(scope)
        op = operation(scope)
        assert op is not None
        make_stale(scope)
        assert store.take_over(operation_id_for_key("k-1"), op.token).admitted

    with hook("a", take_over), caplog.at_level(logging.WARNING, logger="op_store.lifecycle"):
        response = post(alice, "/lc/fn/a/")
    assert response.status_code == 201  # the view ran and its effects are committed: say so
    assert "taken over" in caplog.text
    assert operation(scope).state == Operation.State.ADMITTED  # type: ignore[union-attr]


# --- request bodies --------------------------------------------------------------------------


def test_form_and_file_upload_still_readable(alice: Client) -> None:
    data = {"field": "value", "upload": io.BytesIO(b"file-bytes")}
    first = alice.post("/lc/form/a/", data, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["post"] == {"field": "value"} and body["files"] == {"upload": "file-bytes"}
    data = {"field": "value", "upload": io.BytesIO(b"file-bytes")}
    again = alice.post("/lc/form/a/", data, HTTP_IDEMPOTENCY_KEY="k-1")
    assert again.content == first.content


def test_large_upload_over_the_memory_limit_still_works(alice: Client, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 500
    content = b"z" * 20_000
    first = alice.post("/lc/form/a/", {"upload": io.BytesIO(content)}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201, first.content
    assert first.json()["files"] == {"upload": content.decode()}
    again = alice.post("/lc/form/a/", {"upload": io.BytesIO(content)}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert again["Idempotent-Replayed"] == "true"
    other = alice.post("/lc/form/a/", {"upload": io.BytesIO(content + b"!")}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 422


def test_large_raw_body_is_a_clear_413(alice: Client, scope: str, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = alice.post("/lc/fn/a/", b"x" * 1001, content_type="application/octet-stream", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 413 and problem(response)["code"] == "request-too-large"
    assert count("a") == 0 and not Operation.objects.exists()


def test_streamed_fingerprint_lets_a_view_stream_a_large_raw_body(alice: Client, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = b"r" * 50_000
    first = alice.post("/lc/raw-upload/a/", body, content_type="application/octet-stream", HTTP_IDEMPOTENCY_KEY="k")
    assert first.status_code == 201 and first.json()["size"] == 50_000
    again = alice.post("/lc/raw-upload/a/", body, content_type="application/octet-stream", HTTP_IDEMPOTENCY_KEY="k")
    assert again.content == first.content
