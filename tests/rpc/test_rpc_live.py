"""End to end: ``RpcClient`` against a live server (real HTTP, real sockets).

The live server runs in threads of this process, so :data:`~tests.support.rpc_services.RUNS` counts the
method's runs as the server saw them. On SQLite (a shared in-memory test database that answers
concurrent writers with "table is locked") the concurrency tests use the in-memory store; on
PostgreSQL and MySQL/MariaDB they use the ORM store.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings

from op_store.models import Operation
from op_store.rpc import ReplyTypeMismatch, RpcProblem, RpcTransportError, UserError, VoxError, VoxRpcError
from op_store.rpc.client import RemoteSchemaSource, RpcClient
from op_store.rpc.errors import CONFLICT_MESSAGE
from op_store.testing import concurrently
from op_store.vox import I64, U64, Schema, format_hash
from tests.support.rpc_services import HOOKS, LIMIT, RUNS, Balance, Bank, LedgerError, db_runs, site
from tests.testapp.models import Row

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    RUNS.clear()
    HOOKS.clear()
    yield
    HOOKS.clear()


@pytest.fixture
def cookie() -> str:
    client = Client()
    client.force_login(User.objects.create(username="alice"))
    return f"sessionid={client.cookies['sessionid'].value}"


@pytest.fixture
def bank(live_server: Any, cookie: str) -> RpcClient[Bank]:
    return RpcClient(f"{live_server.url}/rpc/", Bank, headers={"Cookie": cookie}, timeout=20)


class DroppingProxy:
    """A TCP proxy that forwards the first ``drop`` requests, waits for the server's whole reply, and then
    closes the client's connection without sending it: the call ran, the client never heard back."""

    def __init__(self, target: tuple[str, int], drop: int = 1) -> None:
        self.target = target
        self.drop = drop
        self.dropped = 0
        self.forwarded = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        upstream = socket.create_connection(self.target)

        def pump() -> None:
            try:
                while chunk := conn.recv(65536):
                    upstream.sendall(chunk)
            except OSError:
                pass

        threading.Thread(target=pump, daemon=True).start()
        reply = b""
        while chunk := upstream.recv(65536):  # the client sends Connection: close; the server closes
            reply += chunk
        upstream.close()
        if self.dropped < self.drop:
            self.dropped += 1
        else:
            self.forwarded += 1
            conn.sendall(reply)
        with contextlib.suppress(OSError):  # shutdown wakes the pump blocked in recv; close alone sends no FIN
            conn.shutdown(socket.SHUT_RDWR)
        conn.close()

    def close(self) -> None:
        self._stop = True
        self.listener.close()


def _host_port(url: str) -> tuple[str, int]:
    host, port = url.rsplit("//", 1)[1].rsplit(":", 1)
    return host, int(port)


# --- calls -------------------------------------------------------------------------------------


def test_a_client_call_returns_the_typed_result(bank: RpcClient[Bank]) -> None:
    assert bank.proxy.transfer("alice", "bob", 5) == Balance("alice", LIMIT - 5)
    assert bank.call("transfer", from_="alice", to="bob", amount=6) == Balance("alice", LIMIT - 6)
    assert bank.proxy.balance("carol") == Balance("carol", LIMIT)
    assert bank.proxy.nothing() is None
    assert bank.call_dynamic("deposit", "dave", 9) == {"account": "dave", "amount": 9}
    assert Operation.objects.filter(state="sealed").count() == 3  # transfer twice and deposit


def test_user_errors_are_raised_typed(bank: RpcClient[Bank]) -> None:
    with pytest.raises(UserError) as info:
        bank.proxy.transfer("alice", "bob", 5000)
    assert info.value.value == LedgerError.InsufficientFunds(available=LIMIT, requested=5000)
    with pytest.raises(UserError) as dynamic:
        bank.call_dynamic("transfer", "nobody", "bob", 1)
    assert dynamic.value.value == {"variant": "UnknownAccount", "value": "nobody"}


def test_every_call_gets_its_own_operation_id_and_a_retry_reuses_it(bank: RpcClient[Bank]) -> None:
    spec = bank.method("whoami")
    first = bank.send(spec, ())
    second = bank.send(spec, ())
    assert first.operation_id is not None and first.operation_id != second.operation_id
    again = bank.send(spec, (), operation_id=first.operation_id)
    assert again.body == first.body and again.replayed and not first.replayed
    assert bank.result(spec, again) == f"alice:{first.operation_id}"
    assert RUNS["whoami"] == 2 and db_runs("whoami") == 2


def test_a_retry_after_a_dropped_connection_gets_the_sealed_reply(live_server: Any, cookie: str) -> None:
    proxy = DroppingProxy(_host_port(live_server.url), drop=1)
    try:
        pauses: list[float] = []
        client = RpcClient(f"{proxy.url}/rpc/", Bank, headers={"Cookie": cookie}, sleep=pauses.append, timeout=20)
        reply = client.send(client.method("transfer"), ("alice", "bob", 5))
        assert proxy.dropped == 1 and proxy.forwarded == 1 and reply.attempts == 2 and len(pauses) == 1
        assert reply.replayed  # the first attempt ran and sealed; the retry got the sealed bytes
        assert client.result(client.method("transfer"), reply) == Balance("alice", LIMIT - 5)
        assert RUNS["transfer"] == 1 and db_runs("transfer") == 1
        assert Row.objects.filter(key="transfer:alice->bob").count() == 1
        (operation,) = Operation.objects.all()
        assert (
            operation.operation_id == reply.operation_id
            and operation.response is not None
            and bytes(operation.response) == reply.body
        )
    finally:
        proxy.close()


def test_a_dropped_idempotent_call_simply_runs_again(live_server: Any, cookie: str) -> None:
    proxy = DroppingProxy(_host_port(live_server.url), drop=1)
    try:
        client = RpcClient(f"{proxy.url}/rpc/", Bank, headers={"Cookie": cookie}, sleep=lambda s: None)
        assert client.proxy.balance("alice") == Balance("alice", LIMIT)
        assert RUNS["balance"] == 2 and Operation.objects.count() == 0
    finally:
        proxy.close()


def test_transport_errors_are_retried_then_raised() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed again below: nothing listens there
    pauses: list[float] = []
    client = RpcClient(f"http://127.0.0.1:{port}/rpc/", Bank, retries=3, sleep=pauses.append, timeout=2)
    with pytest.raises(RpcTransportError, match="after 4 attempts"):
        client.proxy.deposit("a", 1)
    assert len(pauses) == 3


def _same_call(url: str, cookie: str, method: str, args: tuple[Any, ...], op: int) -> Callable[[int], Any]:
    def work(i: int) -> Any:
        client = RpcClient(url, Bank, headers={"Cookie": cookie}, retries=8, timeout=30)
        return client.send(client.method(method), args, operation_id=op)

    return work


def test_concurrent_duplicates_run_once_and_all_get_the_same_bytes(live_server: Any) -> None:
    """Ten clients send one operation at once; the memory-store site makes duplicates wait for the seal."""
    op = int.from_bytes(b"dupes-01", "little")
    replies = concurrently(10, _same_call(f"{live_server.url}/rpc-mem/", "", "slow", (0.5, "dupes-mem"), op))
    assert RUNS["dupes-mem"] == 1
    assert len({r.body for r in replies}) == 1
    assert sum(1 for r in replies if not r.replayed) == 1


@pytest.mark.real_db
def test_concurrent_duplicates_on_the_orm_store_run_once(live_server: Any) -> None:
    op = int.from_bytes(b"dupes-02", "little")
    HOOKS["transfer"] = lambda service: time.sleep(0.5)
    replies = concurrently(10, _same_call(f"{live_server.url}/rpc-shared/", "", "transfer", ("a", "b", 1), op))
    assert RUNS["transfer"] == 1 and db_runs("transfer") == 1 and Row.objects.count() == 1
    assert len({r.body for r in replies}) == 1
    assert sum(1 for r in replies if not r.replayed) == 1


@pytest.mark.real_db
def test_concurrent_duplicates_without_server_wait_retry_409_until_sealed(live_server: Any, cookie: str) -> None:
    """With ``WAIT = 0`` duplicates are answered 409 in-flight at once; the client retries with the same id."""
    op = int.from_bytes(b"dupes-03", "little")
    HOOKS["transfer"] = lambda service: time.sleep(0.5)
    with override_settings(OP_STORE={"WAIT": 0}):
        replies = concurrently(8, _same_call(f"{live_server.url}/rpc/", cookie, "transfer", ("a", "b", 1), op))
    assert db_runs("transfer") == 1 and len({r.body for r in replies}) == 1
    assert max(r.attempts for r in replies) > 1  # someone was told to come back


def test_a_conflict_is_invalid_payload(bank: RpcClient[Bank]) -> None:
    spec = bank.method("deposit")
    first = bank.send(spec, ("alice", 1))
    assert first.operation_id is not None
    with pytest.raises(VoxRpcError) as info:
        bank.result(spec, bank.send(spec, ("alice", 2), operation_id=first.operation_id))
    assert info.value.error == VoxError.InvalidPayload(CONFLICT_MESSAGE) and not info.value.retryable


# --- a client whose declaration differs from the server's ---------------------------------------


@dataclass(frozen=True)
class BalanceV2:
    account: str
    amount: I64
    currency: str


class BankV2:
    """What a client built against another version of the service might hold."""

    __vox_service__ = "Bank"

    def deposit(self, account: str, amount: U64) -> BalanceV2:
        raise NotImplementedError

    def steal(self, amount: U64) -> None:
        raise NotImplementedError


class CountingSource:
    def __init__(self, inner: RemoteSchemaSource) -> None:
        self.inner = inner
        self.asked: list[int] = []

    def get_schema(self, schema_id: int, /) -> Schema | None:
        self.asked.append(schema_id)
        return self.inner.get_schema(schema_id)


def test_unknown_methods_raise_unknown_method(live_server: Any, cookie: str) -> None:
    client = RpcClient(f"{live_server.url}/rpc/", BankV2, headers={"Cookie": cookie})
    with pytest.raises(VoxRpcError) as info:
        client.proxy.steal(100)
    assert info.value.variant == "UnknownMethod"
    assert Operation.objects.count() == 0


def test_replies_of_foreign_types_are_decoded_by_remote_schemas(live_server: Any, cookie: str) -> None:
    source = CountingSource(RemoteSchemaSource(f"{live_server.url}/rpc/"))
    client = RpcClient(f"{live_server.url}/rpc/", BankV2, headers={"Cookie": cookie}, schema_source=source)
    with pytest.raises(ReplyTypeMismatch) as info:
        client.proxy.deposit("alice", 3)
    assert info.value.value == {"account": "alice", "amount": 3}
    assert info.value.actual != info.value.expected
    assert client.call_dynamic("deposit", "bob", 4) == {"account": "bob", "amount": 4}
    server_balance = next(s for s in site.registry.values() if s.name == "Balance")
    assert server_balance.id in source.asked  # fetched by hash from the schema endpoint
    assert source.inner.get_schema(server_balance.id) == server_balance


# --- what is not an RPC outcome ----------------------------------------------------------------


def test_corrupt_postcard_over_http_is_invalid_payload(live_server: Any, cookie: str) -> None:
    spec = RpcClient(live_server.url, Bank).method("transfer")
    for body in (b"", b"\x05al", b"\xff" * 12):
        request = urllib.request.Request(
            f"{live_server.url}/rpc/bank/transfer",
            data=body,
            method="POST",
            headers={"Content-Type": "application/x-postcard", "Vox-Operation-Id": "77", "Cookie": cookie},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
            result = spec.reply_codec.decode(response.read())
        assert isinstance(result.error, VoxError.InvalidPayload), body
    assert Operation.objects.count() == 0


def test_problems_surface_as_rpc_problem_without_retries(live_server: Any) -> None:
    pauses: list[float] = []
    anonymous = RpcClient(f"{live_server.url}/rpc/", Bank, sleep=pauses.append)
    with pytest.raises(RpcProblem) as info:
        anonymous.proxy.deposit("a", 1)
    assert info.value.status == 403 and info.value.code == "anonymous-key" and pauses == []
    assert anonymous.proxy.balance("a") == Balance("a", LIMIT)  # idempotent: no operation id, no scope needed


def test_a_failing_method_is_not_retried(bank: RpcClient[Bank]) -> None:
    pauses: list[float] = []
    bank.sleep = pauses.append
    with pytest.raises(RpcProblem) as info:
        bank.proxy.boom("nope")
    assert info.value.status == 500 and info.value.code == "method-failed" and pauses == []
    assert RUNS["boom"] == 1


def test_schema_endpoint_over_http(live_server: Any) -> None:
    spec = RpcClient(live_server.url, Bank).method("transfer")
    source = RemoteSchemaSource(f"{live_server.url}/rpc/")
    for schema_id, schema in spec.registry.items():
        assert source.url_for(schema_id) == f"{live_server.url}/rpc/_schemas/{format_hash(schema_id)}/"
        assert source.get_schema(schema_id) == schema
    assert source.get_schema(1) is None
