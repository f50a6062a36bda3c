"""The client's retry rules and reply handling, against a scripted opener (no server)."""

from __future__ import annotations

import http.client
import io
import json
import urllib.error
import urllib.request
from email.message import Message
from typing import Any

import pytest

from op_store.rpc import ReplyTypeMismatch, RpcProblem, RpcTransportError, UserError, VoxError, VoxRpcError
from op_store.rpc.client import RemoteSchemaSource, RpcClient
from op_store.rpc.service import UNKNOWN_METHOD_REPLY
from op_store.rpc.wire import root_headers
from op_store.vox import Err, Ok, SchemaRegistry, encode, schema_for, type_ref_for
from tests.support.rpc_services import Balance, Bank, LedgerError

Answer = tuple[int, dict[str, str], bytes] | BaseException


def _message(headers: dict[str, str]) -> Message:
    message = Message()
    for name, value in headers.items():
        message[name] = value
    return message


class _Response(io.BytesIO):
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        super().__init__(body)
        self.status = status
        self.headers = _message(headers)


class ScriptedOpener:
    """Answers each request with the next scripted answer; records what was sent."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.sent: list[urllib.request.Request] = []

    def open(self, request: urllib.request.Request, data: None = None, timeout: float = 0) -> Any:
        self.sent.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        status, headers, body = answer
        if status != 200:
            raise urllib.error.HTTPError(request.full_url, status, "scripted", _message(headers), io.BytesIO(body))
        return _Response(status, headers, body)


def reply_for(method: str, value: Any) -> tuple[int, dict[str, str], bytes]:
    spec = RpcClient("http://x/", Bank).method(method)
    return 200, root_headers(spec.reply_root, spec.method_id), spec.reply_codec.encode(value)


def problem(status: int, code: str, retry_after: str | None = None) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/problem+json"}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    return status, headers, json.dumps({"code": code, "status": status, "detail": code}).encode()


def client(opener: ScriptedOpener, **kwargs: Any) -> tuple[RpcClient[Bank], list[float]]:
    pauses: list[float] = []
    kwargs.setdefault("sleep", pauses.append)
    return RpcClient("http://rpc.test/rpc", Bank, opener=opener, **kwargs), pauses


def test_retries_keep_the_operation_id_and_honour_retry_after() -> None:
    opener = ScriptedOpener(
        http.client.RemoteDisconnected("closed"),
        urllib.error.URLError(ConnectionRefusedError()),
        problem(409, "in-flight", retry_after="1"),
        problem(503, "seal-failed"),
        reply_for("transfer", Ok(Balance("a", 1))),
    )
    bank, pauses = client(opener, max_backoff=1.5)
    assert bank.proxy.transfer("a", "b", 999) == Balance("a", 1)
    ids = {r.get_header("Vox-operation-id") for r in opener.sent}
    assert len(opener.sent) == 5 and len(ids) == 1 and None not in ids
    assert all(r.full_url == "http://rpc.test/rpc/bank/transfer" for r in opener.sent)
    assert opener.sent[0].get_header("Content-type") == "application/x-postcard"
    assert len(pauses) == 4 and pauses[2] >= 1.0 and max(pauses) <= 1.5 * 1.5


def test_each_logical_call_gets_a_new_id_and_idempotent_calls_none() -> None:
    opener = ScriptedOpener(
        reply_for("deposit", Ok(Balance("a", 1))),
        reply_for("deposit", Ok(Balance("a", 1))),
        reply_for("balance", Ok(Balance("a", 1))),
    )
    bank, _ = client(opener)
    bank.proxy.deposit("a", 1)
    bank.proxy.deposit("a", 1)
    bank.proxy.balance("a")
    first, second, idempotent = (r.get_header("Vox-operation-id") for r in opener.sent)
    assert first and second and first != second and 0 <= int(first) < 2**64
    assert idempotent is None


@pytest.mark.parametrize("status", [400, 403, 413, 415, 422, 500])
def test_other_problems_are_raised_at_once(status: int) -> None:
    bank, pauses = client(ScriptedOpener(problem(status, "nope")))
    with pytest.raises(RpcProblem) as info:
        bank.proxy.deposit("a", 1)
    assert info.value.status == status and info.value.code == "nope" and pauses == []


def test_a_non_json_error_body_still_makes_a_problem() -> None:
    bank, _ = client(ScriptedOpener((502, {}, b"<html>bad gateway</html>")), retries=0)
    with pytest.raises(RpcProblem) as info:
        bank.proxy.deposit("a", 1)
    assert info.value.status == 502 and "bad gateway" in str(info.value)


def test_retries_run_out() -> None:
    bank, pauses = client(ScriptedOpener(*[ConnectionResetError()] * 3), retries=2)
    with pytest.raises(RpcTransportError):
        bank.proxy.deposit("a", 1)
    assert len(pauses) == 2
    bank, _ = client(ScriptedOpener(*[problem(409, "in-flight")] * 3), retries=2)
    with pytest.raises(RpcProblem) as info:
        bank.proxy.deposit("a", 1)
    assert info.value.code == "in-flight"
    with pytest.raises(ValueError):
        client(ScriptedOpener(), retries=-1)


def test_typed_errors() -> None:
    user = Err(VoxError.User(LedgerError.UnknownAccount("z")))
    bank, _ = client(ScriptedOpener(reply_for("transfer", user), reply_for("transfer", Err(VoxError.Indeterminate()))))
    with pytest.raises(UserError) as info:
        bank.proxy.transfer("z", "b", 1)
    assert info.value.value == LedgerError.UnknownAccount("z")
    with pytest.raises(VoxRpcError) as vox:
        bank.proxy.transfer("z", "b", 1)
    assert vox.value.variant == "Indeterminate"


def test_a_reply_of_another_type_is_decoded_by_schemas() -> None:
    unknown_root, unknown_registry = schema_for(UNKNOWN_METHOD_REPLY)
    foreign_root, foreign_registry = schema_for(dict[str, int])
    source = SchemaRegistry([*unknown_registry.values(), *foreign_registry.values()])
    opener = ScriptedOpener(
        (200, root_headers(unknown_root, None), encode(Err(VoxError.UnknownMethod()), UNKNOWN_METHOD_REPLY)),
        (200, root_headers(foreign_root, None), encode({"k": 1}, dict[str, int])),
        (200, root_headers(type_ref_for(UNKNOWN_METHOD_REPLY), None), encode(Ok(None), UNKNOWN_METHOD_REPLY)),
    )
    bank, _ = client(opener, schema_source=source)
    with pytest.raises(VoxRpcError) as info:
        bank.proxy.deposit("a", 1)
    assert info.value.variant == "UnknownMethod"
    with pytest.raises(RpcProblem, match="not a Result"):
        bank.proxy.deposit("a", 1)
    with pytest.raises(ReplyTypeMismatch) as mismatch:
        bank.proxy.deposit("a", 1)
    assert mismatch.value.value is None


def test_a_reply_without_type_headers_is_refused() -> None:
    bank, _ = client(ScriptedOpener((200, {}, b"\x00")))
    with pytest.raises(RpcProblem, match="Vox-Root-Type-Ref"):
        bank.proxy.deposit("a", 1)


def test_proxy_and_remote_source_details() -> None:
    bank, _ = client(ScriptedOpener())
    assert "transfer" in dir(bank.proxy) and bank.proxy.transfer.__name__ == "transfer"
    with pytest.raises(AttributeError):
        bank.proxy.steal  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(TypeError):
        bank.call("transfer", "only-one-argument")
    assert RemoteSchemaSource("http://h/rpc").url_for(0xAB) == "http://h/rpc/_schemas/00000000000000ab/"
    assert "Bank" in repr(bank)
