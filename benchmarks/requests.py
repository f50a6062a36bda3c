"""Request overhead of ``exactly_once``: a trivial POST view bare, on a fresh key, and replayed.

Every request goes through ``django.test.Client`` (the whole handler, no middleware), on each database
alias in turn (``OP_STORE["DATABASE"]`` switched with ``override_settings``); the cases of one
comparison alternate in the same rounds and are reported as ratios to the bare view of that run.

A second comparison uses a view that writes one row: bare (one autocommit), with ``exactly_once``
(admission, the write, the seal: three commits) and with ``exactly_once(atomic=True)`` (admission,
then the write and the seal in one transaction: two commits, one more than the bare view).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

from op_store.decorators import exactly_once

from .harness import Row, measure, timing_rows

SCOPE = "op_store.lifecycle.scopes.shared_scope"  # no auth middleware here: one scope for all


def trivial(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"ok": True, "echo": len(request.body)}, status=201)


def _alias() -> str:
    from op_store.conf import op_store_settings

    return op_store_settings.DATABASE or "default"


def writing(request: HttpRequest) -> HttpResponse:
    from tests.testapp.models import Row as RowModel

    RowModel.objects.using(_alias()).create(key="bench")
    return JsonResponse({"ok": True}, status=201)


urlpatterns = [
    path("bench/bare/", trivial),
    path("bench/once/", exactly_once(scope=SCOPE)(trivial)),
    path("bench/write/bare/", writing),
    path("bench/write/once/", exactly_once(scope=SCOPE)(writing)),
    path("bench/write/atomic/", exactly_once(scope=SCOPE, atomic=True)(writing)),
]


def _poster(client: Any, url: str, keys: Callable[[], str] | None) -> Callable[[], object]:
    body = b'{"amount": 1}'

    def call() -> object:
        extra = {} if keys is None else {"HTTP_IDEMPOTENCY_KEY": keys()}
        response = client.post(url, body, content_type="application/json", **extra)
        assert response.status_code == 201, response.content
        return response

    return call


def _fresh_key(alias: str, numbers: itertools.count[int]) -> str:
    return f"fresh-{alias}-{next(numbers)}"


def run(quick: bool) -> list[Row]:
    from django.test import Client, override_settings

    from benchmarks.djangosetup import setup

    aliases = setup()
    rounds, block = (3, 30) if quick else (7, 100)
    rows: list[Row] = []
    fresh = itertools.count()
    for alias in aliases:
        with override_settings(OP_STORE={"DATABASE": alias}):
            client = Client()
            new_key = functools.partial(_fresh_key, alias, fresh)
            replay_key = functools.partial(str, f"replay-{alias}")
            cases = {
                "bare view": _poster(client, "/bench/bare/", None),
                "exactly_once, fresh key": _poster(client, "/bench/once/", new_key),
                "exactly_once, replay": _poster(client, "/bench/once/", replay_key),
            }
            medians = measure(cases, rounds=rounds, block=block)
            rows += timing_rows(f"requests/{alias}", medians, baseline="bare view", note="trivial POST view")
            writes = {
                "writing view bare": _poster(client, "/bench/write/bare/", None),
                "writing view, exactly_once": _poster(client, "/bench/write/once/", new_key),
                "writing view, exactly_once(atomic=True)": _poster(client, "/bench/write/atomic/", new_key),
            }
            medians = measure(writes, rounds=rounds, block=block)
            rows += timing_rows(f"requests/{alias}", medians, baseline="writing view bare", note="view writes 1 row")
    return rows
