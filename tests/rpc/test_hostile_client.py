"""The RPC client facing a hostile (or broken) server: a strange ``Retry-After`` never crashes a call.

``RpcClient`` honours ``Retry-After`` (seconds) when it retries a 409/429/503. A value it cannot read
(non-ASCII digits such as ``²``, which ``str.isdigit`` accepts and ``float`` refuses; an HTTP date;
a sign) is ignored in favour of the client's own backoff, rather than raising ``ValueError``.
"""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from email.message import Message
from typing import Any

import pytest

from op_store.rpc import RpcProblem
from op_store.rpc.client import RpcClient
from tests.support.rpc_services import Bank


class BusyServer:
    """An opener whose every request is answered 409 in-flight with the given ``Retry-After``."""

    def __init__(self, retry_after: str) -> None:
        self.retry_after = retry_after
        self.requests = 0

    def open(self, request: urllib.request.Request, timeout: float | None = None) -> Any:
        self.requests += 1
        headers = Message()
        headers["Content-Type"] = "application/problem+json"
        headers["Retry-After"] = self.retry_after
        body = json.dumps({"type": "urn:op-store:problem:in-flight", "code": "in-flight", "status": 409}).encode()
        raise urllib.error.HTTPError(request.full_url, 409, "Conflict", headers, io.BytesIO(body))


def _client(server: BusyServer, pauses: list[float]) -> RpcClient[Bank]:
    return RpcClient(
        "http://rpc.invalid/rpc/",
        Bank,
        opener=server,  # type: ignore[arg-type]
        retries=2,
        backoff=0.01,
        max_backoff=1.5,
        sleep=pauses.append,
    )


@pytest.mark.parametrize(
    "retry_after",
    ["\u00b2", "\u0663", "Wed, 21 Oct 2026 07:28:00 GMT", "-1", "1.5", "", " ", "9" * 5000],
    ids=["superscript-two", "arabic-indic-three", "http-date", "negative", "fraction", "empty", "space", "huge"],
)
def test_unreadable_retry_after_falls_back_to_the_backoff(retry_after: str) -> None:
    server, pauses = BusyServer(retry_after), []
    with pytest.raises(RpcProblem) as info:
        _client(server, pauses).call("deposit", "a", 1)
    assert info.value.status == 409 and info.value.code == "in-flight"
    assert server.requests == 3 and len(pauses) == 2
    assert all(0 <= pause <= 1.5 for pause in pauses)


def test_readable_retry_after_is_honoured_up_to_max_backoff() -> None:
    server, pauses = BusyServer("1"), []
    with pytest.raises(RpcProblem):
        _client(server, pauses).call("deposit", "a", 1)
    assert len(pauses) == 2 and all(pause >= 1 for pause in pauses)
    server, pauses = BusyServer("60"), []
    with pytest.raises(RpcProblem):
        _client(server, pauses).call("deposit", "a", 1)
    assert pauses == [1.5, 1.5]
