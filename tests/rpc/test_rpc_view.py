"""The RPC view through Django's test client: formats, transport problems and every store outcome."""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import include, path, reverse
from django.utils import timezone

import op_store.rpc
from op_store.models import Operation
from op_store.models import Schema as SchemaRow
from op_store.rpc import VoxError
from op_store.rpc.calls import Call
from op_store.rpc.errors import CONFLICT_MESSAGE
from op_store.rpc.service import UNKNOWN_METHOD_REPLY, MethodSpec
from op_store.rpc.site import RpcSite
from op_store.rpc.wire import format_type_ref, parse_type_ref
from op_store.store import DjangoOperationStore
from op_store.testing import FakeClock, crash_after_admission
from op_store.vox import U32, Err, Ok, decode, encode, format_hash, schema_for, type_ref_for
from tests.support.rpc_services import HOOKS, LIMIT, MEMORY_STORE, RUNS, Balance, Bank, LedgerError, db_runs, site
from tests.testapp.models import Row

pytestmark = pytest.mark.django_db

POSTCARD = "application/x-postcard"
JSON = "application/json"

# A site that insists on operation ids, mounted only for the tests that use it (pytest.mark.urls).
strict_site = RpcSite([Bank], name="rpc_strict", require_operation_id=True)
urlpatterns = [
    path("rpc/", include(site.urls)),
    path("strict/", include(strict_site.urls)),
    path("one-line/", include(op_store.rpc.urls([Bank], name="rpc_one_line"))),
]


@pytest.fixture(autouse=True)
def _clean() -> Any:
    RUNS.clear()
    HOOKS.clear()
    yield
    HOOKS.clear()


@pytest.fixture
def user() -> User:
    return User.objects.create(username="alice")


@pytest.fixture
def client(user: User) -> Client:
    c = Client()
    c.force_login(user)
    return c


def spec(name: str) -> MethodSpec:
    method = site.lookup("bank", name)
    assert method is not None
    return method


def new_id() -> int:
    return random.getrandbits(64)


def call(
    client: Client,
    method: str,
    args: Any = (),
    *,
    op: int | None = None,
    as_json: bool = False,
    accept: str | None = None,
    prefix: str = "/rpc/bank/",
    **extra: Any,
) -> Any:
    """POST a call: ``args`` is a tuple (sent as postcard) or, with ``as_json``, any JSON value."""
    if op is not None:
        extra["HTTP_VOX_OPERATION_ID"] = str(op)
    if accept is not None:
        extra["HTTP_ACCEPT"] = accept
    if as_json:
        body: bytes = json.dumps(args).encode()
        content_type = JSON
    else:
        body = args if isinstance(args, bytes) else spec(method).args_codec.encode(args)
        content_type = POSTCARD
    extra.setdefault("CONTENT_TYPE", content_type)  # the test client drops it for an empty body
    return client.post(prefix + method, body, content_type=content_type, **extra)


def result(response: Any, method: str) -> Any:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == POSTCARD
    m = spec(method)
    assert parse_type_ref(response["Vox-Root-Type-Ref"]) == m.reply_root
    assert response["Vox-Root-Type"] == format_hash(m.reply_root.collect_ids()[0])
    assert response["Vox-Method-Id"] == format_hash(m.method_id)
    return m.reply_codec.decode(response.content)


def problem(response: Any, code: str, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = json.loads(response.content)
    assert body["code"] == code and body["type"] == f"urn:op-store:problem:{code}" and body["status"] == status
    return body


def fingerprint(method: str, args: tuple[Any, ...], op: int) -> bytes:
    """The fingerprint the view computes for this call (to admit it as another owner would)."""
    m = spec(method)
    return Call(None, m, args, m.args_codec.encode(args), op).fingerprint  # type: ignore[arg-type]


def operations(op: int) -> list[Operation]:
    return list(Operation.objects.filter(operation_id=op))


# --- formats -----------------------------------------------------------------------------------


def test_postcard_call_returns_the_postcard_result_with_type_headers(client: Client) -> None:
    response = call(client, "transfer", ("alice", "bob", 5))
    assert result(response, "transfer") == Ok(Balance("alice", LIMIT - 5))
    assert response["Cache-Control"] == "no-store"
    assert "Idempotent-Replayed" not in response


def test_json_in_json_out(client: Client) -> None:
    response = call(client, "transfer", {"from": "alice", "to": "bob", "amount": 7}, as_json=True, accept=JSON)
    assert response.status_code == 200 and response["Content-Type"] == JSON
    assert json.loads(response.content) == {"variant": "Ok", "value": {"account": "alice", "amount": LIMIT - 7}}
    assert parse_type_ref(response["Vox-Root-Type-Ref"]) == spec("transfer").reply_root
    err = call(client, "transfer", ["alice", "bob", 5000], as_json=True, accept=JSON)
    assert json.loads(err.content) == {
        "variant": "Err",
        "value": {
            "variant": "User",
            "value": {"variant": "InsufficientFunds", "value": {"available": LIMIT, "requested": 5000}},
        },
    }


def test_json_arguments_postcard_reply_and_zero_argument_methods(client: Client) -> None:
    response = call(client, "transfer", ["a", "b", 1], as_json=True)
    assert result(response, "transfer") == Ok(Balance("a", LIMIT - 1))
    assert result(call(client, "nothing"), "nothing") == Ok(None)
    empty_json = client.post("/rpc/bank/nothing", b"", content_type=JSON, CONTENT_TYPE=JSON)
    assert result(empty_json, "nothing") == Ok(None)
    assert RUNS["nothing"] == 2


def test_names_in_any_case_style_and_trailing_slash(client: Client) -> None:
    for url in ("/rpc/Bank/transfer", "/rpc/bank/transfer/", "/rpc/BANK/Transfer"):
        response = client.post(url, spec("transfer").args_codec.encode(("a", "b", 1)), content_type=POSTCARD)
        assert result(response, "transfer") == Ok(Balance("a", LIMIT - 1)), url


def test_user_errors_come_back_typed(client: Client) -> None:
    response = call(client, "transfer", ("nobody", "bob", 1))
    assert result(response, "transfer") == Err(VoxError.User(LedgerError.UnknownAccount("nobody")))


# --- exactly once ------------------------------------------------------------------------------


def test_a_retry_gets_the_sealed_bytes_and_the_method_runs_once(client: Client) -> None:
    op = new_id()
    first = call(client, "transfer", ("alice", "bob", 5), op=op)
    again = call(client, "transfer", ("alice", "bob", 5), op=op)
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    assert again["Vox-Root-Type-Ref"] == first["Vox-Root-Type-Ref"]
    assert db_runs("transfer") == 1 and RUNS["transfer"] == 1
    (row,) = operations(op)
    assert (
        row.state == "sealed"
        and row.response is not None
        and bytes(row.response) == first.content
        and row.method == "bank.transfer"
    )
    assert row.scope.startswith("user:") and row.transactional


def test_a_retry_in_json_is_the_same_call(client: Client) -> None:
    op = new_id()
    first = call(client, "transfer", ("alice", "bob", 5), op=op)
    again = call(client, "transfer", {"from": "alice", "to": "bob", "amount": 5}, op=op, as_json=True, accept=JSON)
    assert again["Idempotent-Replayed"] == "true"
    assert json.loads(again.content) == {"variant": "Ok", "value": {"account": "alice", "amount": LIMIT - 5}}
    assert RUNS["transfer"] == 1 and first.status_code == 200


def test_same_id_other_arguments_or_method_is_a_conflict(client: Client) -> None:
    op = new_id()
    call(client, "transfer", ("alice", "bob", 5), op=op)
    conflict = Err(VoxError.InvalidPayload(CONFLICT_MESSAGE))
    assert result(call(client, "transfer", ("alice", "bob", 6), op=op), "transfer") == conflict
    assert result(call(client, "deposit", ("alice", 5), op=op), "deposit") == conflict
    assert RUNS["transfer"] == 1 and RUNS["deposit"] == 0


def test_user_errors_are_sealed_and_their_writes_rolled_back(client: Client) -> None:
    op = new_id()
    first = call(client, "transfer", ("alice", "bob", 5000), op=op)
    expected = Err(VoxError.User(LedgerError.InsufficientFunds(available=LIMIT, requested=5000)))
    assert result(first, "transfer") == expected
    assert Row.objects.count() == 0 and db_runs("transfer") == 0  # the method's writes rolled back
    again = call(client, "transfer", ("alice", "bob", 5000), op=op)
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    assert RUNS["transfer"] == 1


def test_successful_writes_commit_with_the_seal(client: Client) -> None:
    call(client, "transfer", ("alice", "bob", 5), op=new_id())
    assert Row.objects.filter(key="transfer:alice->bob").count() == 1 and db_runs("transfer") == 1


def test_a_failing_method_is_a_500_released_and_runs_again_on_retry(client: Client) -> None:
    op = new_id()
    body = problem(call(client, "boom", ("kaput",), op=op), "method-failed", 500)
    assert "kaput" not in body["detail"]  # no internals leak
    assert operations(op) == [] and Row.objects.count() == 0
    problem(call(client, "boom", ("kaput",), op=op), "method-failed", 500)
    assert RUNS["boom"] == 2 and db_runs("boom") == 0  # ran again; its writes rolled back both times
    assert Row.objects.count() == 0 and operations(op) == []


def test_idempotent_methods_bypass_the_store(client: Client) -> None:
    op = new_id()
    for _ in range(3):
        assert result(call(client, "balance", ("alice",), op=op), "balance") == Ok(Balance("alice", LIMIT))
    assert RUNS["balance"] == 3 and Operation.objects.count() == 0


def test_calls_without_an_operation_id_run_untracked(client: Client) -> None:
    for _ in range(2):
        assert result(call(client, "deposit", ("alice", 3)), "deposit") == Ok(Balance("alice", 3))
    assert db_runs("deposit") == 2 and Operation.objects.count() == 0


@pytest.mark.urls(__name__)
def test_a_site_may_require_operation_ids(client: Client) -> None:
    problem(call(client, "deposit", ("alice", 3), prefix="/strict/bank/"), "missing-key", 400)
    response = call(client, "deposit", ("alice", 3), op=new_id(), prefix="/strict/bank/")
    assert result(response, "deposit") == Ok(Balance("alice", 3))
    assert result(call(client, "balance", ("a",), prefix="/strict/bank/"), "balance") == Ok(Balance("a", LIMIT))


def test_require_key_is_the_middlewares_setting_not_the_sites(client: Client, settings: Any) -> None:
    """A site resolves its policy as a view does, but only ``require_operation_id`` makes ids required."""
    settings.OP_STORE = {"REQUIRE_KEY": True}
    assert result(call(client, "deposit", ("alice", 3)), "deposit") == Ok(Balance("alice", 3))
    assert Operation.objects.count() == 0


@pytest.mark.urls(__name__)
def test_the_one_line_urlconf(client: Client) -> None:
    assert reverse("rpc_one_line:call", kwargs={"service": "bank", "method": "deposit"}) == "/one-line/bank/deposit"
    response = call(client, "deposit", ("alice", 3), op=new_id(), prefix="/one-line/bank/")
    assert result(response, "deposit") == Ok(Balance("alice", 3))
    assert reverse("rpc:schema", kwargs={"schema_hash": "00000000000000ab"}) == "/rpc/_schemas/00000000000000ab/"


def test_anonymous_calls_with_an_operation_id_are_refused_by_the_default_scope() -> None:
    anonymous = Client()
    problem(call(anonymous, "deposit", ("alice", 3), op=new_id()), "anonymous-key", 403)
    assert result(call(anonymous, "deposit", ("alice", 3)), "deposit") == Ok(Balance("alice", 3))


def test_one_principals_ids_never_replay_to_another(client: Client) -> None:
    bob = Client()
    bob.force_login(User.objects.create(username="bob"))
    op = new_id()
    mine = decode(call(client, "whoami", op=op).content, spec("whoami").reply_type)
    theirs = decode(call(bob, "whoami", op=op).content, spec("whoami").reply_type)
    assert mine == Ok(f"alice:{op}") and theirs == Ok(f"bob:{op}")
    assert len(operations(op)) == 2 and db_runs("whoami") == 2


def test_stale_admission_is_indeterminate_or_rerun_by_policy(client: Client, op_store_clock: FakeClock) -> None:
    op = new_id()
    with crash_after_admission() as crash:
        call(client, "deposit", ("alice", 3), op=op)
    assert crash.admission["transactional"]  # deposit runs in the seal's transaction
    in_flight = call(client, "deposit", ("alice", 3), op=op)
    assert problem(in_flight, "in-flight", 409) and in_flight["Retry-After"] == "1"
    op_store_clock.advance(seconds=61)  # past the default 60-second lease
    assert result(call(client, "deposit", ("alice", 3), op=op), "deposit") == Err(VoxError.Indeterminate())
    assert db_runs("deposit") == 0
    with override_settings(OP_STORE={"STALE_POLICY": "reexecute_if_transactional"}):
        assert result(call(client, "deposit", ("alice", 3), op=op), "deposit") == Ok(Balance("alice", 3))
    assert db_runs("deposit") == 1
    assert result(call(client, "deposit", ("alice", 3), op=op), "deposit") == Ok(Balance("alice", 3))
    assert db_runs("deposit") == 1


def test_an_expired_operation_is_indeterminate_and_never_runs_again(client: Client) -> None:
    op = new_id()
    call(client, "deposit", ("alice", 3), op=op)
    Operation.objects.filter(operation_id=op).update(state="expired", response=None)
    assert result(call(client, "deposit", ("alice", 3), op=op), "deposit") == Err(VoxError.Indeterminate())
    assert db_runs("deposit") == 1


def test_ownership_lost_while_running_rolls_back_and_asks_for_a_retry(client: Client, user: User) -> None:
    op = new_id()
    scope = f"user:{user.pk}"

    def take_over(service: Any) -> None:
        row = Operation.objects.get(scope=scope, operation_id=op)
        Operation.objects.filter(pk=row.pk).update(lease_expires_at=timezone.now() - timedelta(minutes=1))
        assert DjangoOperationStore(scope=scope).take_over(op, row.token).admitted

    HOOKS["transfer"] = take_over
    response = call(client, "transfer", ("alice", "bob", 5), op=op)
    problem(response, "ownership-lost", 409)
    assert Row.objects.count() == 0 and Operation.objects.get(operation_id=op).state == "admitted"


def test_a_reply_too_large_to_store_is_refused_only_when_it_must_be_stored(client: Client) -> None:
    with override_settings(OP_STORE={"MAX_RESPONSE_BYTES": 100}):
        op = new_id()
        body = problem(call(client, "big", (1000,), op=op), "response-too-large", 500)
        assert body["max_response_bytes"] == 100 and operations(op) == []
        assert result(call(client, "big", (1000,)), "big") == Ok(b"x" * 1000)


def test_in_flight_duplicates_wait_for_the_seal_and_get_the_replay(client: Client) -> None:
    """The memory site waits (``wait=10``): a duplicate polls until the owner seals, then replays."""
    op = new_id()
    m = spec("deposit")
    admission = MEMORY_STORE.try_admit(op, fingerprint=fingerprint("deposit", ("alice", 3), op))
    assert admission.admitted and admission.token is not None
    sealed = m.reply_codec.encode(Ok(Balance("sealed-elsewhere", 1)))

    def seal_later() -> None:
        time.sleep(0.3)
        MEMORY_STORE.seal_owned(op, admission.token, sealed, m.reply_root, m.registry)  # type: ignore[arg-type]

    sealer = threading.Thread(target=seal_later)
    sealer.start()
    started = time.monotonic()
    response = call(client, "deposit", ("alice", 3), op=op, prefix="/rpc-mem/bank/")
    sealer.join()
    assert response.content == sealed and response["Idempotent-Replayed"] == "true"
    assert 0.25 < time.monotonic() - started < 5


# --- what is not an RPC outcome: problems --------------------------------------------------------


def test_unknown_methods_and_services_are_err_unknown_method(client: Client) -> None:
    root = type_ref_for(UNKNOWN_METHOD_REPLY)
    for url in ("/rpc/bank/steal", "/rpc/vault/open"):
        response = client.post(url, b"\x00", content_type=POSTCARD)
        assert response.status_code == 200 and response.content == b"\x01\x01"
        assert response["Vox-Root-Type-Ref"] == format_type_ref(root) and "Vox-Method-Id" not in response
        assert decode(response.content, UNKNOWN_METHOD_REPLY) == Err(VoxError.UnknownMethod())
    as_json = client.post("/rpc/bank/steal", b"{}", content_type=JSON, HTTP_ACCEPT=JSON)
    assert json.loads(as_json.content) == {"variant": "Err", "value": {"variant": "UnknownMethod", "value": None}}


CORRUPT = [
    b"",  # truncated: no arguments at all
    b"\x05al",  # string longer than the input
    b"\x05alice\x03bob\x05extra",  # trailing bytes after a valid tuple
    b"\x02\xff\xfe\x03bob\x05",  # invalid UTF-8
    b"\x05alice\x03bob\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",  # u64 varint too long
    b"\xff\xff\xff\xff\x0f",  # a length of 4 GiB
]


@pytest.mark.parametrize("body", CORRUPT)
def test_corrupt_postcard_arguments_are_invalid_payload_never_a_500(client: Client, body: bytes) -> None:
    op = new_id()
    reply = result(call(client, "transfer", body, op=op), "transfer")
    assert isinstance(reply, Err) and isinstance(reply.error, VoxError.InvalidPayload)
    assert reply.error.value.startswith("invalid arguments:")
    assert operations(op) == [] and RUNS["transfer"] == 0


def test_random_bytes_never_make_a_500(client: Client) -> None:
    rng = random.Random(7)
    for _ in range(200):
        body = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 24)))
        for method in ("transfer", "echo"):
            response = call(client, method, body)
            assert response.status_code == 200, (method, body, response.content)


@pytest.mark.parametrize(
    "body",
    [b"{", b'{"from": "a"}', b'{"from": 1, "to": "b", "amount": 1}', b'["a", "b", -1]', b"\xff", b"[" * 100000],
)
def test_bad_json_arguments_are_invalid_payload(client: Client, body: bytes) -> None:
    response = client.post("/rpc/bank/transfer", body, content_type=JSON, HTTP_ACCEPT=JSON)
    assert response.status_code == 200
    decoded = json.loads(response.content)
    assert decoded["value"]["variant"] == "InvalidPayload", decoded


def test_wrong_http_method_is_405(client: Client) -> None:
    response = client.get("/rpc/bank/transfer")
    problem(response, "method-not-allowed", 405)
    assert response["Allow"] == "POST"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_unsupported_content_types_are_415(client: Client, content_type: str) -> None:
    response = client.post("/rpc/bank/transfer", b"x=1", content_type=content_type)
    problem(response, "unsupported-media-type", 415)


def test_a_body_without_content_type_is_refused(client: Client) -> None:
    response = client.generic("POST", "/rpc/bank/nothing", b"")
    problem(response, "unsupported-media-type", 415)


@pytest.mark.parametrize("value", ["abc", "-1", str(2**64), "1.5", ""])
def test_malformed_operation_ids_are_400(client: Client, value: str) -> None:
    response = client.post(
        "/rpc/bank/deposit",
        spec("deposit").args_codec.encode(("a", 1)),
        content_type=POSTCARD,
        HTTP_VOX_OPERATION_ID=value,
    )
    problem(response, "malformed-key", 400)
    assert db_runs("deposit") == 0


def test_operation_id_bounds_are_accepted(client: Client) -> None:
    for op in (0, 2**64 - 1):
        assert result(call(client, "deposit", ("a", 1), op=op), "deposit") == Ok(Balance("a", 1))
        assert operations(op)[0].operation_id == op


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=16)
def test_an_oversized_body_is_413(client: Client) -> None:
    response = call(client, "transfer", ("a" * 100, "b", 1), op=new_id())
    problem(response, "request-too-large", 413)


# --- schemas -------------------------------------------------------------------------------------


def test_the_schema_endpoint_serves_every_schema_of_a_reply(client: Client) -> None:
    m = spec("transfer")
    for schema in m.registry.values():
        response = client.get(f"/rpc/_schemas/{format_hash(schema.id)}/")
        assert response.status_code == 200
        body = response.json()
        # The inspection API's document: the schema's JSON form plus a readable declaration.
        assert body.pop("declaration").strip() and body == schema.to_json()
        assert "immutable" in response["Cache-Control"]
    problem(client.get("/rpc/_schemas/0000000000000001/"), "schema-not-found", 404)
    problem(client.post("/rpc/_schemas/0000000000000001/"), "method-not-allowed", 405)


@dataclass(frozen=True)
class OldBalance:
    account: str
    amount: U32


def test_schemas_of_replies_sealed_under_older_types_come_from_the_store(client: Client, user: User) -> None:
    """A reply sealed by an older version of a method (another reply type) still replays and decodes."""
    root, registry = schema_for(OldBalance)
    op = new_id()
    store = DjangoOperationStore(scope=f"user:{user.pk}")
    admission = store.try_admit(op, fingerprint=fingerprint("deposit", ("alice", 3), op))
    assert admission.token is not None
    store.seal_owned(op, admission.token, encode(OldBalance("old", 1), OldBalance), root, registry)
    unique = [s for s in registry.values() if s.id not in site.registry]
    assert [s.name for s in unique] == ["OldBalance"]
    for schema in unique:
        body = client.get(f"/rpc/_schemas/{format_hash(schema.id)}/").json()
        assert body.pop("declaration").strip() and body == schema.to_json()
    replay = call(client, "deposit", ("alice", 3), op=op, accept=JSON)
    assert replay["Vox-Root-Type-Ref"] == format_type_ref(root)
    assert json.loads(replay.content) == {"account": "old", "amount": 1}


def test_the_index_lists_methods_ids_and_types(client: Client) -> None:
    data = client.get("/rpc/").json()
    (bank,) = data["services"]
    methods = {m["name"]: m for m in bank["methods"]}
    assert methods["transfer"]["method_id"] == format_hash(spec("transfer").method_id)
    assert methods["transfer"]["params"] == ["from", "to", "amount"]
    assert methods["transfer"]["reply_type"] == spec("transfer").reply_root.to_json()
    assert methods["balance"]["idempotent"] and methods["transfer"]["path"] == "/rpc/bank/transfer"
    assert data["schemas"] == "/rpc/_schemas/{hash}/"


@pytest.mark.django_db(transaction=True)
def test_a_thousand_calls_store_each_schema_exactly_once(client: Client) -> None:
    """transfer and deposit share their reply type; 1,000 sealed calls leave one row per schema."""
    expected = set(schema_for(spec("transfer").reply_type)[1]) | set(schema_for(spec("deposit").reply_type)[1])
    call(client, "deposit", ("warm", 1), op=new_id())
    deposit_only = set(SchemaRow.objects.values_list("id", flat=True))
    assert deposit_only == set(schema_for(spec("deposit").reply_type)[1])
    call(client, "transfer", ("warm", "up", 1), op=new_id())
    after_first = SchemaRow.objects.count()
    assert set(SchemaRow.objects.values_list("id", flat=True)) == expected
    for i in range(1000):
        method, args = ("transfer", ("a", "b", i % 50)) if i % 2 else ("deposit", ("a", i))
        if i == 500:
            with CaptureQueriesContext(connection) as queries:
                call(client, method, args, op=new_id())
            inserts = [
                q for q in queries if q["sql"].lstrip().upper().startswith("INSERT") and "op_store_schema" in q["sql"]
            ]
            assert not inserts, "a warm seal wrote to the schema table"
        else:
            assert call(client, method, args, op=new_id()).status_code == 200
        if i % 250 == 0:
            assert SchemaRow.objects.count() == after_first
    assert Operation.objects.filter(state="sealed").count() == 1002
    for schema_id in expected:
        assert SchemaRow.objects.filter(id=schema_id).count() == 1
    assert SchemaRow.objects.count() == after_first == len(expected)
    err = call(client, "transfer", ("a", "b", 5000), op=new_id())  # an Err reply: same type, no new schema
    assert result(err, "transfer") == Err(VoxError.User(LedgerError.InsufficientFunds(available=LIMIT, requested=5000)))
    assert SchemaRow.objects.count() == after_first


# --- living with the rest of op_store -------------------------------------------------------------


@override_settings(
    MIDDLEWARE=[
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "op_store.middleware.ExactlyOnceMiddleware",
    ]
)
def test_exactly_once_middleware_leaves_the_rpc_view_alone(client: Client) -> None:
    op = new_id()
    first = call(client, "deposit", ("alice", 3), op=op)
    again = call(client, "deposit", ("alice", 3), op=op)
    assert again.content == first.content and again["Content-Type"] == POSTCARD
    (row,) = operations(op)
    assert row.method == "bank.deposit" and db_runs("deposit") == 1


@pytest.mark.django_db(transaction=True)
def test_atomic_requests_do_not_swallow_the_admission(client: Client) -> None:
    connection.settings_dict["ATOMIC_REQUESTS"] = True
    try:
        op = new_id()
        first = call(client, "transfer", ("alice", "bob", 9000), op=op)
        assert isinstance(result(first, "transfer"), Err)
        assert call(client, "transfer", ("alice", "bob", 9000), op=op).content == first.content
        assert Row.objects.count() == 0 and operations(op)[0].state == "sealed"
    finally:
        connection.settings_dict["ATOMIC_REQUESTS"] = False
