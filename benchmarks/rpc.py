"""RPC view speed: a small method through ``RpcSite``, fresh and replayed, next to a plain Django JSON view.

Every call goes through ``django.test.Client`` (the whole handler, no middleware), on each database
alias in turn (``OP_STORE["DATABASE"]`` switched with ``override_settings``). The cases of one
comparison alternate in the same rounds (``harness.measure``) and are reported per call, as calls per
second, and as ratios to the plain view of that run:

- ``plain JSON view``: parses a JSON body, does the method's work, answers ``JsonResponse``;
- ``rpc, no operation id``: postcard in and out, untracked (no store statements);
- ``rpc, fresh operation id``: admission, the method and the seal in a transaction (two commits);
- ``rpc, replay``: the same operation id every time, answered from the sealed bytes (one statement);
- ``rpc JSON in/out, fresh operation id``: as fresh, with JSON arguments and a JSON reply.

Run alone with ``python -m benchmarks.rpc [--quick]``.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, URLResolver, include, path

from op_store.lifecycle.scopes import shared_scope
from op_store.rpc.site import RpcSite
from op_store.vox import I64, U32, Ok

from .harness import Row, format_table, measure, timing_rows


@dataclass(frozen=True)
class Quote:
    item: str
    quantity: U32
    total: I64


PRICE = 1250


class Shop:
    def quote(self, item: str, quantity: U32) -> Quote:
        """The small method: a little arithmetic on its arguments, no database."""
        return Quote(item, quantity, quantity * PRICE)


def plain_quote(request: HttpRequest) -> HttpResponse:
    """The same work as a plain Django JSON view."""
    data = json.loads(request.body)
    item, quantity = str(data["item"]), int(data["quantity"])
    return JsonResponse({"item": item, "quantity": quantity, "total": quantity * PRICE})


site = RpcSite([Shop], name="bench_rpc", scope=shared_scope)  # no auth middleware here: one scope
urlpatterns: list[URLPattern | URLResolver] = [
    path("bench/plain/quote", plain_quote),
    path("bench/rpc/", include(site.urls)),
]

ARGS = ("widget", 3)


def _rpc(client: Any, ids: Callable[[], int | None], *, as_json: bool = False) -> Callable[[], object]:
    spec = site.lookup("shop", "quote")
    assert spec is not None
    postcard = spec.args_codec.encode(ARGS)
    body = json.dumps({"item": ARGS[0], "quantity": ARGS[1]}).encode() if as_json else postcard
    content_type = "application/json" if as_json else "application/x-postcard"
    accept = {"HTTP_ACCEPT": "application/json"} if as_json else {}
    expected = spec.reply_codec.encode(Ok(Quote(ARGS[0], ARGS[1], ARGS[1] * PRICE)))

    def call() -> object:
        op = ids()
        extra = dict(accept) if op is None else {**accept, "HTTP_VOX_OPERATION_ID": str(op)}
        response = client.post("/bench/rpc/shop/quote", body, content_type=content_type, **extra)
        assert response.status_code == 200, response.content
        assert as_json or response.content == expected, response.content
        return response

    return call


def _plain(client: Any) -> Callable[[], object]:
    body = json.dumps({"item": ARGS[0], "quantity": ARGS[1]}).encode()

    def call() -> object:
        response = client.post("/bench/plain/quote", body, content_type="application/json")
        assert response.status_code == 200, response.content
        return response

    return call


def _per_second(group: str, medians: dict[str, float]) -> list[Row]:
    return [
        {"group": group, "name": name, "value": 1 / seconds, "unit": "calls/s"} for name, seconds in medians.items()
    ]


def run(quick: bool) -> list[Row]:
    from django.test import Client, override_settings

    from benchmarks.djangosetup import setup

    aliases = setup()
    rounds, block = (3, 30) if quick else (7, 100)
    rows: list[Row] = []
    fresh = itertools.count(1)
    for n, alias in enumerate(aliases):
        with override_settings(OP_STORE={"DATABASE": alias}):
            client = Client()
            replay_id = 2**63 + n
            cases = {
                "plain JSON view": _plain(client),
                "rpc, no operation id": _rpc(client, lambda: None),
                "rpc, fresh operation id": _rpc(client, lambda: next(fresh)),
                "rpc, replay": _rpc(client, functools.partial(int, replay_id)),
                "rpc JSON in/out, fresh operation id": _rpc(client, lambda: next(fresh), as_json=True),
            }
            medians = measure(cases, rounds=rounds, block=block)
            group = f"rpc/{alias}"
            rows += timing_rows(group, medians, baseline="plain JSON view", note="small method, test client")
            rows += _per_second(group, medians)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rpc", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    print(format_table(run(args.quick)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
