"""Declaring services, the VoxError wire enum, JSON arguments and the wire helpers (no database)."""

from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import dataclass
from typing import Never

import pytest

from op_store.rpc import Service, UserError, VoxError, VoxRpcError, describe, rpc_method
from op_store.rpc.errors import RETRYABLE_VARIANTS, vox_error
from op_store.rpc.jsonvalues import JsonValueError, args_from_json, from_json
from op_store.rpc.service import UNKNOWN_METHOD_REPLY
from op_store.rpc.wire import ChainedSchemaSource, format_type_ref, parse_type_ref, wants_json
from op_store.vox import (
    I32,
    U8,
    U64,
    EnumKind,
    Err,
    NewtypePayload,
    Ok,
    Result,
    SchemaRegistry,
    UnitPayload,
    decode,
    decode_ref,
    encode,
    method_id,
    schema_for,
)
from tests.support.rpc_services import Balance, Bank, Colour, Everything, LedgerError, Shape

# --- VoxError ----------------------------------------------------------------------------------

VOX_ORDER = [
    "User",
    "UnknownMethod",
    "InvalidPayload",
    "Cancelled",
    "ConnectionClosed",
    "SessionShutdown",
    "SendFailed",
    "Indeterminate",
]


def test_vox_error_variants_are_in_vox_order_with_vox_payloads() -> None:
    root, registry = schema_for(VoxError[Never])
    kind = registry[root.collect_ids()[0]].kind
    assert isinstance(kind, EnumKind) and kind.name == "VoxError"
    assert [v.name for v in kind.variants] == VOX_ORDER
    assert [v.index for v in kind.variants] == list(range(8))
    assert isinstance(kind.variants[0].payload, NewtypePayload)
    assert isinstance(kind.variants[2].payload, NewtypePayload)  # InvalidPayload(String)
    assert all(isinstance(kind.variants[i].payload, UnitPayload) for i in (1, 3, 4, 5, 6, 7))
    assert registry[root.collect_ids()[0]].type_params == ("E",)


@pytest.mark.parametrize("index", range(1, 8))
def test_each_vox_error_encodes_as_err_then_its_index(index: int) -> None:
    name = VOX_ORDER[index]
    error = vox_error(name, "why" if name == "InvalidPayload" else None)
    data = encode(Err(error), Result[None, VoxError[Never]])
    tail = b"\x03why" if name == "InvalidPayload" else b""
    assert data == bytes([1, index]) + tail
    # The bytes of a non-User error do not depend on T or E: any method's reply type decodes them.
    assert decode(data, Result[Balance, VoxError[LedgerError]]) == Err(error)


def test_user_error_carries_e() -> None:
    reply = Result[Balance, VoxError[LedgerError]]
    data = encode(Err(VoxError.User(LedgerError.UnknownAccount("zed"))), reply)
    assert data[:3] == bytes([1, 0, 0])
    assert decode(data, reply) == Err(VoxError.User(LedgerError.UnknownAccount("zed")))


def test_retryable_and_vox_rpc_error() -> None:
    assert frozenset({"ConnectionClosed", "SessionShutdown", "SendFailed"}) == RETRYABLE_VARIANTS
    assert VoxRpcError(VoxError.SendFailed()).retryable
    error = VoxRpcError(VoxError.InvalidPayload("operation ID conflict"))
    assert not error.retryable and error.variant == "InvalidPayload" and "conflict" in str(error)
    with pytest.raises(ValueError):
        vox_error("Nope")


def test_unknown_method_reply_is_unit_and_infallible() -> None:
    assert encode(Err(VoxError.UnknownMethod()), UNKNOWN_METHOD_REPLY) == b"\x01\x01"


# --- declaring services ------------------------------------------------------------------------


def test_bank_methods_ids_and_options() -> None:
    spec = describe(Bank)
    assert spec.name == "Bank" and spec.wire_name == "bank"
    assert set(spec.methods) == {"transfer", "deposit", "balance", "slow", "boom", "big", "echo", "nothing", "whoami"}
    transfer = spec.method("transfer")
    assert transfer is not None
    assert transfer.method_id == method_id("Bank", "transfer") == method_id("bank", "transfer")
    assert [p.name for p in transfer.params] == ["from_", "to", "amount"]
    assert transfer.params[0].json_names == ("from_", "from")
    assert transfer.error_type is LedgerError and not transfer.idempotent and transfer.atomic
    assert transfer.reply_type == Result[Balance, VoxError[LedgerError]]
    assert transfer.args_codec.encode(("a", "b", 5)) == encode(("a", "b", 5), tuple[str, str, U64])
    balance = spec.method("balance")
    assert balance is not None and balance.idempotent and balance.error_type is Never
    assert spec.method("Balance") is balance  # any case style
    nothing = spec.method("nothing")
    assert nothing is not None and nothing.args_codec.encode(()) == b""
    assert nothing.reply_type == Result[None, VoxError[Never]]
    slow = spec.method("slow")
    assert slow is not None and not slow.atomic and slow.bind((0.5,), {}) == (0.5, "slow")


def test_every_schema_of_a_method_is_in_its_registry() -> None:
    for method in describe(Bank).methods.values():
        ids = set(method.registry)
        for root in (method.args_root, method.reply_root):
            assert set(root.collect_ids()) <= ids
        for schema in method.registry.values():
            assert set(schema.child_ids()) <= ids


def test_names_are_kebab_normalised_and_overridable() -> None:
    class OrderDesk:
        __vox_service__ = "OrderDesk"

        def place_order(self, item: str) -> U64:
            return 1

        @rpc_method(name="CancelAll")
        def cancel(self) -> None:
            return None

    spec = describe(OrderDesk)
    assert spec.wire_name == "order-desk"
    assert set(spec.methods) == {"place-order", "cancel-all"}
    assert spec.method("placeOrder") is spec.method("place_order") is spec.method("PlaceOrder")
    cancel = spec.method("cancel-all")
    assert cancel is not None and cancel.method_id == method_id("order-desk", "cancel-all")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def m(self, x) -> int: ...", "needs a type annotation"),
        ("def m(self, x: int): ...", "needs a return annotation"),
        ("def m(self, *xs: int) -> int: ...", "*args"),
        ("async def m(self) -> int: ...", "async"),
        ("def m(self, x: object) -> int: ...", "cannot describe"),
        ("def m(self, x: int) -> list: ...", "item types"),
        ("def a_b(self) -> int: ...\n    def a__b(self) -> int: ...", "wire name"),
        ("x = 1", "declares no methods"),
    ],
)
def test_unfit_declarations_fail_early_and_clearly(source: str, message: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"class Bad:\n    {source}\n", namespace)
    with pytest.raises(TypeError, match=message.replace("*", r"\*")):
        describe(namespace["Bad"])


def test_public_helpers_can_be_hidden_and_inherited_methods_count() -> None:
    class Base(Service):
        def shared(self) -> U8:
            return 1

    class Child(Base):
        def own(self) -> U8:
            return 2

        @rpc_method(exposed=False)
        def helper(self) -> U8:
            return 3

    assert set(describe(Child).methods) == {"shared", "own"}
    assert "helper-is-not-a-method" not in describe(Bank).methods


def test_rpc_method_rejects_bad_options() -> None:
    with pytest.raises(TypeError):
        rpc_method(idempotent="yes")  # type: ignore[call-overload]
    with pytest.raises(TypeError):
        rpc_method(Bank)


def test_user_error_is_an_exception_with_the_value() -> None:
    error = UserError(LedgerError.UnknownAccount("x"))
    assert error.value == LedgerError.UnknownAccount("x")
    assert "UnknownAccount" in repr(error)


# --- JSON arguments ----------------------------------------------------------------------------

EVERYTHING = Everything(
    flag=True,
    small=255,
    big=2**64 - 1,
    ratio=-1.5,
    name="naïve ✓",
    data=b"\x00\xffhi",
    colour=Colour.GREEN,
    shape=Shape.Rect(w=3, h=4),
    tags=["a", "b"],
    scores={"x": -1, "y": 2**62},
    pair=("p", 7),
    maybe=Balance("acc", -5),
    nested=[Balance("n", 1)],
)


@pytest.mark.parametrize(
    "value",
    [
        EVERYTHING,
        Everything(False, 0, 0, math.inf, "", b"", Colour.RED, Shape.Empty(), [], {}, ("", 0), None, []),
        Everything(True, 1, 1, 0.0, "s", b"x", Colour.RED, Shape.Circle(2.5), ["z"], {}, ("q", 1), None),
        Everything(True, 1, 1, 0.0, "s", b"x", Colour.RED, Shape.Segment(-1, 1), [], {}, ("q", 1), None),
    ],
)
def test_json_is_the_inverse_of_decode_ref(value: Everything) -> None:
    root, registry = schema_for(Everything)
    as_json = decode_ref(encode(value, Everything), root, registry)
    assert from_json(as_json, Everything) == value


def test_json_spellings_a_person_would_type() -> None:
    assert from_json("GREEN", Colour) is Colour.GREEN
    assert from_json("Empty", Shape) == Shape.Empty()
    assert from_json({"variant": "Circle", "value": 1}, Shape) == Shape.Circle(1.0)
    assert from_json("18446744073709551615", U64) == 2**64 - 1
    assert from_json("NaN", float) != from_json("NaN", float)  # NaN, faithfully
    assert from_json([["k", 1]], dict[str, int]) == {"k": 1}
    assert from_json([[1, "one"]], dict[int, str]) == {1: "one"}
    assert from_json({"variant": "Ok", "value": 3}, Result[int, str]) == Ok(3)
    assert from_json([1, 2], set[int]) == {1, 2}


@pytest.mark.parametrize(
    ("value", "tp", "where"),
    [
        ("1", bool, "$"),
        (True, int, "$"),
        (1.5, int, "$"),
        ("zz", bytes, "$"),
        ({"account": "a"}, Balance, "$"),
        ({"account": "a", "amount": 1, "extra": 1}, Balance, "$"),
        ({"account": "a", "amount": "x"}, Balance, "$.amount"),
        ("Purple", Colour, "$"),
        ({"variant": "Rect", "value": {"w": 1}}, Shape, "$.value"),
        ({"variant": "Segment", "value": [1]}, Shape, "$.value"),
        ([1, 2, 3], tuple[int, int], "$"),
        ({"a": 1, "b": "x"}, dict[str, int], "$['b']"),
        ([1, 1], dict[int, int], "$"),
        (None, int, "$"),
    ],
)
def test_json_that_does_not_fit_names_where(value: object, tp: object, where: str) -> None:
    with pytest.raises(JsonValueError) as info:
        from_json(value, tp)
    assert info.value.path == where


def test_arguments_by_name_or_position() -> None:
    transfer = describe(Bank).method("transfer")
    assert transfer is not None
    params = transfer.params
    assert args_from_json({"from": "a", "to": "b", "amount": 1}, params) == ("a", "b", 1)
    assert args_from_json({"from_": "a", "to": "b", "amount": 1}, params) == ("a", "b", 1)
    assert args_from_json(["a", "b", 1], params) == ("a", "b", 1)
    slow = describe(Bank).method("slow")
    assert slow is not None
    assert args_from_json([0.1], slow.params) == (0.1, "slow")
    assert args_from_json({"seconds": 0.1, "name": "n"}, slow.params) == (0.1, "n")
    for bad in ({"from": "a", "from_": "a", "to": "b", "amount": 1}, {"to": "b", "amount": 1}, ["a"], [1, 2, 3, 4], 7):
        with pytest.raises(JsonValueError):
            args_from_json(bad, params)


def test_json_too_deep_is_a_value_error() -> None:
    @dataclass(frozen=True)
    class Node:
        next: Node | None

    deep: object = None
    for _ in range(5000):
        deep = {"next": deep}
    with pytest.raises(JsonValueError, match="too deeply"):
        from_json(deep, Node)


# --- wire helpers ------------------------------------------------------------------------------


def test_type_ref_header_round_trip() -> None:
    root = describe(Bank).methods["transfer"].reply_root
    assert parse_type_ref(format_type_ref(root)) == root
    with pytest.raises(ValueError):
        parse_type_ref("[1]")
    with pytest.raises(ValueError):
        parse_type_ref("{")


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8, */*", True),
        ("application/x-postcard, application/json", False),
        ("*/*", False),
        ("", False),
    ],
)
def test_wants_json(accept: str, expected: bool) -> None:
    assert wants_json(accept) is expected


def test_chained_schema_source() -> None:
    _, a = schema_for(I32)
    _, b = schema_for(str)
    chain = ChainedSchemaSource([a, SchemaRegistry(), b])
    for schema_id in [*a, *b]:
        assert chain.get_schema(schema_id) is not None
    assert chain.get_schema(12345) is None


def test_service_declarations_and_the_client_import_without_django() -> None:
    code = (
        "import sys; import op_store.rpc, op_store.rpc.client, op_store.rpc.jsonvalues, op_store.rpc.wire; "
        "assert 'django' not in sys.modules, sorted(m for m in sys.modules if m.startswith('django'))"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={"PATH": ""}, cwd=".")
