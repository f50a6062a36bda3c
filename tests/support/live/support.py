"""Helpers shared by the lifecycle tests: keyed requests, pre-admitted operations, time travel."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django.test import RequestFactory
from django.utils import timezone

from op_store.lifecycle.fingerprints import default_fingerprint
from op_store.lifecycle.keys import operation_id_for_key
from op_store.lifecycle.reply import HttpReply, decode_reply, encode_reply, reply_schema
from op_store.models import Operation
from op_store.store.base import Admission
from op_store.store.orm import DjangoOperationStore
from tests.testapp.models import Counter, Row
from tests.testapp.views import HOOKS

JSON = "application/json"


def post(client: Any, path: str, key: str | None = "k-1", data: Any = None, **extra: Any) -> Any:
    """POST JSON ``data`` (default ``{"amount": 1}``) with an Idempotency-Key (None: no key)."""
    if key is not None:
        extra["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post(path, {"amount": 1} if data is None else data, content_type=JSON, **extra)


async def apost(client: Any, path: str, key: str | None = "k-1", data: Any = None, **extra: Any) -> Any:
    if key is not None:
        extra["headers"] = {"Idempotency-Key": key}
    return await client.post(path, {"amount": 1} if data is None else data, content_type=JSON, **extra)


def fingerprint_of(path: str, data: Any = None) -> bytes:
    """The default fingerprint of :func:`post`'s request."""
    return default_fingerprint(RequestFactory().post(path, {"amount": 1} if data is None else data, content_type=JSON))


def preadmit(
    scope: str, path: str, key: str = "k-1", *, data: Any = None, lease: float = 60, transactional: bool = False
) -> Admission:
    """Admit the operation of ``post(path, key)`` as another owner would."""
    admission = DjangoOperationStore(scope).try_admit(
        operation_id_for_key(key),
        fingerprint=fingerprint_of(path, data),
        lease=timedelta(seconds=lease),
        key=key,
        transactional=transactional,
    )
    assert admission.admitted, admission
    return admission


def seal_as_owner(
    scope: str, key: str, token: int, body: bytes = b'{"sealed": "elsewhere"}', status: int = 200
) -> None:
    root, registry = reply_schema()
    reply = HttpReply(status=status, headers=[("Content-Type", JSON)], body=body)
    DjangoOperationStore(scope).seal_owned(
        operation_id_for_key(key), token, encode_reply(reply), root, registry, status_code=status
    )


def operation(scope: str, key: str = "k-1") -> Operation | None:
    return Operation.objects.filter(scope=scope, operation_id=operation_id_for_key(key)).first()


def make_stale(scope: str, key: str = "k-1") -> None:
    """Time travel: the operation's lease ran out a minute ago."""
    Operation.objects.filter(scope=scope, operation_id=operation_id_for_key(key)).update(
        lease_expires_at=timezone.now() - timedelta(minutes=1)
    )


def stored_reply(scope: str, key: str = "k-1") -> HttpReply:
    op = operation(scope, key)
    assert op is not None and op.response is not None
    return decode_reply(bytes(op.response))


def count(name: str) -> int:
    counter = Counter.objects.filter(name=name).first()
    return 0 if counter is None else counter.value


def rows(name: str) -> int:
    return Row.objects.filter(key=name).count()


def problem(response: Any) -> dict[str, Any]:
    assert response["Content-Type"] == "application/problem+json", response.content
    body: dict[str, Any] = json.loads(response.content)
    assert body["type"] == "urn:op-store:problem:" + body["code"]
    assert body["status"] == response.status_code
    assert body["title"] and body["detail"]
    return body


@contextmanager
def hook(name: str, fn: Any) -> Iterator[None]:
    HOOKS[name] = fn
    try:
        yield
    finally:
        HOOKS.pop(name, None)


def fail_once(exc: BaseException | None = None) -> Any:
    """A hook that raises the first time it runs."""
    calls = {"n": 0}

    def run(request: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise exc or RuntimeError("transient failure")

    return run
