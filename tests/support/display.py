"""Sample operations for the admin, API and display tests (helpers only: no tests in here).

Every kind of reply the inspection tools must show: struct, enum, list, map, option, Result, HTTP
replies (JSON, text, binary), an admitted operation with a live and with an expired lease, a
tombstone, a corrupt payload and one whose schema is gone.
"""

# No ``from __future__ import annotations``: schema_for reads the dataclasses' real annotations.

import itertools
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone

from op_store.lifecycle.reply import HttpReply, encode_reply, reply_schema
from op_store.models import Operation, Schema
from op_store.store.orm import DjangoOperationStore
from op_store.vox import F64, I32, U32, Err, Ok, Result, Variant, VoxEnum, encode, schema_for


@dataclass
class Point:
    x: I32
    y: I32


class Shape(VoxEnum):
    Empty = Variant()
    Circle = Variant(F64)
    Segment = Variant(I32, I32)
    Rect = Variant(w=U32, h=U32)


@dataclass
class Orphan:
    """Only used by the operation whose schema is deleted (so no other operation shares it)."""

    note: str


_ids = itertools.count(1000)


def seal_value(store: DjangoOperationStore, value: Any, tp: Any, *, operation_id: int | None = None) -> Operation:
    """Admit and seal ``value`` (encoded as ``tp``) through the ORM store; returns the row."""
    op_id = next(_ids) if operation_id is None else operation_id
    root, registry = schema_for(tp)
    admission = store.try_admit(op_id, fingerprint=b"fp", method="Demo.get", key=f"key-{op_id}")
    assert admission.token is not None
    store.seal_owned(op_id, admission.token, encode(value, tp), root, registry)
    return Operation.objects.get(scope=store.scope, operation_id=op_id)


def seal_http(store: DjangoOperationStore, status: int, headers: list[tuple[str, str]], body: bytes) -> Operation:
    """Seal an HTTP reply the way the request lifecycle does."""
    op_id = next(_ids)
    root, registry = reply_schema()
    admission = store.try_admit(op_id, fingerprint=b"fp", method="POST", key=f"http-{op_id}")
    assert admission.token is not None
    data = encode_reply(HttpReply(status=status, headers=headers, body=body))
    store.seal_owned(op_id, admission.token, data, root, registry, status_code=status)
    return Operation.objects.get(scope=store.scope, operation_id=op_id)


def admitted(store: DjangoOperationStore, *, stale: bool = False, method: str = "POST") -> Operation:
    """An admitted operation; ``stale``: its lease ran out an hour ago."""
    op_id = next(_ids)
    if stale:
        store = DjangoOperationStore(store.scope, clock=lambda: timezone.now() - timedelta(hours=1))
    store.try_admit(op_id, fingerprint=b"fp", lease=timedelta(seconds=60), method=method, key=f"adm-{op_id}")
    return Operation.objects.get(scope=store.scope, operation_id=op_id)


def seed(scope: str = "alice") -> dict[str, Operation]:
    """One operation of every kind, by name."""
    store = DjangoOperationStore(scope)
    ops = {
        "struct": seal_value(store, Point(3, -4), Point),
        "enum": seal_value(store, Shape.Rect(w=3, h=4), Shape),
        "list": seal_value(store, [Point(1, 2), Point(5, 6)], list[Point]),
        "map": seal_value(store, {"apples": 3, "pears": 0}, dict[str, int]),
        "option_none": seal_value(store, None, Point | None),
        "option_some": seal_value(store, Point(7, 8), Point | None),
        "result": seal_value(store, Err("out of stock"), Result[Point, str]),
        "result_ok": seal_value(store, Ok(Point(1, 1)), Result[Point, str]),
        "http_json": seal_http(store, 201, [("Content-Type", "application/json")], b'{"order": 42, "paid": true}'),
        "http_text": seal_http(store, 404, [("Content-Type", "text/plain; charset=utf-8")], b"no such order"),
        "http_binary": seal_http(store, 200, [("Content-Type", "application/octet-stream")], b"\x00\xff\x10"),
        "admitted": admitted(store),
        "stale": admitted(store, stale=True),
    }
    expired = seal_value(store, Point(0, 0), Point)
    Operation.objects.filter(pk=expired.pk).update(state="expired", response=None, root_type=None)
    ops["expired"] = Operation.objects.get(pk=expired.pk)
    corrupt = seal_value(store, Point(1, 2), Point)
    Operation.objects.filter(pk=corrupt.pk).update(response=b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x07")
    ops["corrupt"] = Operation.objects.get(pk=corrupt.pk)
    orphan = seal_value(store, Orphan("gone"), Orphan)
    root, _ = schema_for(Orphan)
    Schema.objects.filter(pk=root.collect_ids()[0]).delete()
    ops["missing_schema"] = orphan
    return ops


def many(count: int, scope: str = "bulk") -> None:
    """``count`` sealed operations (struct replies) plus a few admitted ones, in one scope."""
    store = DjangoOperationStore(scope)
    for i in range(count):
        if i % 5 == 4:
            admitted(store, stale=i % 10 == 9)
        else:
            seal_value(store, Point(i, -i), Point)


def login_client(*, staff: bool = True, superuser: bool = True, username: str = "staff"):
    """A test client logged in as a fresh user (no password: hashing one costs ~0.3 s per test)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_user(username, is_staff=staff, is_superuser=superuser)
    client = Client()
    client.force_login(user)
    return client
