"""op_store.vox against values Rust (or vox's other runtimes) produced: nothing here is computed by us.

Every expected value comes from a file in ``tests/vectors`` whose ``source`` names the repository,
path and commit it was copied from (``tests/vectors/README.md``). To check a schema hash the test
builds the equivalent type as a Python annotation, lets ``schema_for`` extract and hash it, and
compares; the Python types below mirror vox's Rust types field for field.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any, Generic, Never, NewType, TypeVar

import pytest

import op_store.vox as vox
from op_store.vox import (
    F64,
    I16,
    I32,
    I64,
    I128,
    U8,
    U16,
    U32,
    U64,
    U128,
    Bool,
    ChannelDirection,
    ChannelKind,
    Payload,
    Result,
    Variant,
    VoxEnum,
    decode,
    encode,
    method_id,
    schema_for,
    schema_hash,
)
from op_store.vox.ids import kebab
from tests.vectors import load_json

T = TypeVar("T")
E = TypeVar("E")
Id = TypeVar("Id")

# --- vox's wire and handshake types (rust/vox-types), as Python annotations ---------------------

SchemaHash = NewType("SchemaHash", U64)  # #[facet(transparent)] over u64
TypeParamName = NewType("TypeParamName", str)
MetadataFlags = NewType("MetadataFlags", U64)


@dataclass
class ProtocolError:
    description: str


class Parity(enum.Enum):
    Odd = 0
    Even = 1


@dataclass
class ConnectionSettings:
    parity: Parity
    max_concurrent_requests: U32
    initial_channel_credit: U32 = 0


class MetadataValue(VoxEnum):
    String = Variant(str)
    Bytes = Variant(bytes)
    U64 = Variant(U64)


@dataclass
class MetadataEntry:
    key: str
    value: MetadataValue
    flags: MetadataFlags


@dataclass
class ConnectionOpen:
    connection_settings: ConnectionSettings
    metadata: list[MetadataEntry]


@dataclass
class ConnectionAccept:
    connection_settings: ConnectionSettings
    metadata: list[MetadataEntry]


@dataclass
class ConnectionReject:
    metadata: list[MetadataEntry]


@dataclass
class ConnectionClose:
    metadata: list[MetadataEntry]


@dataclass
class RequestCall:
    method_id: U64
    metadata: list[MetadataEntry]
    args: Payload
    schemas: list[U8]


@dataclass
class RequestResponse:
    metadata: list[MetadataEntry]
    ret: Payload
    schemas: list[U8]


@dataclass
class RequestCancel:
    metadata: list[MetadataEntry]


class RequestBody(VoxEnum):
    Call = Variant(RequestCall)
    Response = Variant(RequestResponse)
    Cancel = Variant(RequestCancel)


@dataclass
class RequestMessage:
    id: U64
    body: RequestBody


class BindingDirection(enum.Enum):
    Args = 0
    Response = 1


@dataclass
class SchemaMessage:
    method_id: U64
    direction: BindingDirection
    schemas: list[U8]


@dataclass
class ChannelItem:
    item: Payload


@dataclass
class ChannelClose:
    metadata: list[MetadataEntry]


@dataclass
class ChannelReset:
    metadata: list[MetadataEntry]


@dataclass
class ChannelGrantCredit:
    additional: U32


class ChannelBody(VoxEnum):
    Item = Variant(ChannelItem)
    Close = Variant(ChannelClose)
    Reset = Variant(ChannelReset)
    GrantCredit = Variant(ChannelGrantCredit)


@dataclass
class ChannelMessage:
    id: U64
    body: ChannelBody


@dataclass
class Ping:
    nonce: U64


@dataclass
class Pong:
    nonce: U64


class MessagePayload(VoxEnum):
    ProtocolError = Variant(ProtocolError)
    ConnectionOpen = Variant(ConnectionOpen)
    ConnectionAccept = Variant(ConnectionAccept)
    ConnectionReject = Variant(ConnectionReject)
    ConnectionClose = Variant(ConnectionClose)
    RequestMessage = Variant(RequestMessage)
    SchemaMessage = Variant(SchemaMessage)
    ChannelMessage = Variant(ChannelMessage)
    Ping = Variant(Ping)
    Pong = Variant(Pong)


@dataclass
class Message:
    connection_id: U64
    payload: MessagePayload


class TypeRef(VoxEnum, Generic[Id]):
    class Concrete:
        type_id: Id
        args: list[TypeRef[Id]]

    class Var:
        name: TypeParamName


@dataclass
class FieldSchema(Generic[Id]):
    name: str
    type_ref: TypeRef[Id]
    required: bool


class VariantPayload(VoxEnum, Generic[Id]):
    Unit = Variant()

    class Newtype:
        type_ref: TypeRef[Id]

    class Tuple:
        types: list[TypeRef[Id]]

    class Struct:
        fields: list[FieldSchema[Id]]


@dataclass
class VariantSchema(Generic[Id]):
    name: str
    index: U32
    payload: VariantPayload[Id]


class RustChannelDirection(enum.Enum):
    __vox_name__ = "ChannelDirection"
    Tx = 0
    Rx = 1


PrimitiveType = enum.Enum(  # type: ignore[misc]
    "PrimitiveType",
    "Bool U8 U16 U32 U64 U128 I8 I16 I32 I64 I128 F32 F64 Char String Unit Never Bytes Payload",
)


class SchemaKind(VoxEnum, Generic[Id]):
    class Struct:
        name: str
        fields: list[FieldSchema[Id]]

    class Enum:
        name: str
        variants: list[VariantSchema[Id]]

    class Tuple:
        elements: list[TypeRef[Id]]

    class List:
        element: TypeRef[Id]

    class Map:
        key: TypeRef[Id]
        value: TypeRef[Id]

    class Array:
        element: TypeRef[Id]
        length: U64

    class Option:
        element: TypeRef[Id]

    class Channel:
        direction: RustChannelDirection
        element: TypeRef[Id]

    class Primitive:
        primitive_type: PrimitiveType


@dataclass
class Schema(Generic[Id]):
    id: Id
    type_params: list[TypeParamName]  # #[facet(default)] in Rust; ``required`` is not hashed
    kind: SchemaKind[Id]


@dataclass
class SchemaPayload:
    schemas: list[Schema[SchemaHash]]
    root: TypeRef[SchemaHash]


@dataclass
class ResumeKeyBytes:
    bytes: list[U8]


@dataclass
class Hello:
    parity: Parity
    connection_settings: ConnectionSettings
    message_payload_schema: list[Schema[SchemaHash]]
    supports_retry: bool = False
    resume_key: ResumeKeyBytes | None = None
    metadata: list[MetadataEntry] = field(default_factory=list)


@dataclass
class HelloYourself:
    connection_settings: ConnectionSettings
    message_payload_schema: list[Schema[SchemaHash]]
    supports_retry: bool = False
    resume_key: ResumeKeyBytes | None = None
    metadata: list[MetadataEntry] = field(default_factory=list)


@dataclass
class LetsGo:
    pass


@dataclass
class Sorry:
    reason: str


class HandshakeMessage(VoxEnum):
    Hello = Variant(Hello)
    HelloYourself = Variant(HelloYourself)
    LetsGo = Variant(LetsGo)
    Sorry = Variant(Sorry)


WIRE = load_json("vox_wire_registry.json")
ROOTS = {"Message": Message, "HandshakeMessage": HandshakeMessage, "SchemaPayload": SchemaPayload}


def _named(registry: vox.SchemaRegistry) -> list[list[str]]:
    return [[sc.name, f"0x{sc.id:016x}"] for sc in registry.values()]


@pytest.mark.parametrize("root_name", sorted(ROOTS))
def test_wire_registry_matches_rust_schema_for_schema(root_name: str) -> None:
    """Every schema, its id and its position: the order is the one Rust's extraction emitted."""
    expected = WIRE["registries"][root_name]
    root, registry = schema_for(ROOTS[root_name])
    assert f"0x{root.type_id:016x}" == expected["root"]
    assert _named(registry) == expected["schemas"]


def test_types_containing_a_recursive_type_match_rust() -> None:
    """The two cases that told us vox hashes by extraction order, not by strongly connected parts."""
    _, registry = schema_for(HandshakeMessage)
    by_name = {sc.name: sc.id for sc in registry.values()}
    assert by_name["TypeRef"] == 0xEAB72FA609E80198
    assert by_name["FieldSchema"] == 0xD1566F97DA95313E
    assert by_name["SchemaKind"] == 0xCB44B6D76A7C6B45


def test_stored_kinds_refer_to_final_ids() -> None:
    """Hashing used 0 for TypeRef inside FieldSchema, but the stored schema names TypeRef's real id."""
    _, registry = schema_for(SchemaPayload)
    by_name = {sc.name: sc for sc in registry.values()}
    type_ref_field = by_name["FieldSchema"].kind.fields[1]
    assert type_ref_field.type_ref == vox.Concrete(0xEAB72FA609E80198, (vox.Concrete(0xD9356298B81639AC),))


def test_hand_built_registry_in_rust_order_gets_rust_ids() -> None:
    """The schemas as Rust emitted them, with temporary ids, hashed by finalize_content_hashes."""
    _, registry = schema_for(SchemaPayload)
    order = list(registry.values())
    temp = {sc.id: i + 1 for i, sc in enumerate(order)}
    provisional = [
        vox.Schema(id=temp[sc.id], kind=vox.hashing.rewrite_kind(sc.kind, temp), type_params=sc.type_params)
        for sc in order
    ]
    _, final = vox.finalize_content_hashes(provisional)
    assert [[sc.name, f"0x{sc.id:016x}"] for sc in final] == WIRE["registries"]["SchemaPayload"]["schemas"]


# --- the Testbed service (vox's cross-language test service) ------------------------------------


@dataclass
class Person:
    name: str
    age: U8
    email: str | None


@dataclass
class Point:
    x: I32
    y: I32


@dataclass
class Rectangle:
    top_left: Point
    bottom_right: Point
    label: str | None


class Color(enum.Enum):
    Red = 0
    Green = 1
    Blue = 2


class Shape(VoxEnum):
    class Circle:
        radius: float

    class Rectangle:
        width: float
        height: float

    Point = Variant()


@dataclass
class Canvas:
    name: str
    shapes: list[Shape]
    background: Color


@dataclass
class GnarlyAttr:
    key: str
    value: str


class GnarlyKind(VoxEnum):
    class File:
        mime: str
        tags: list[str]

    class Directory:
        child_count: U32
        children: list[str]

    class Symlink:
        target: str
        hops: list[U32]


@dataclass
class GnarlyEntry:
    id: U64
    parent: U64 | None
    name: str
    path: str
    attrs: list[GnarlyAttr]
    chunks: list[list[U8]]
    kind: GnarlyKind


@dataclass
class GnarlyPayload:
    revision: U64
    mount: str
    entries: list[GnarlyEntry]
    footer: str | None
    digest: list[U8]


class BedMessage(VoxEnum):
    __vox_name__ = "Message"
    Text = Variant(str)
    Number = Variant(int)
    Data = Variant(bytes)


@dataclass
class TaggedPoint:
    label: str
    x: I32
    y: I32
    active: bool


class Status(enum.Enum):
    Active = 0
    Inactive = 1


@dataclass
class Tag:
    label: str
    priority: U32
    note: str


@dataclass
class Profile:
    name: str
    bio: str


@dataclass
class Record:
    alpha: I32
    beta: str
    gamma: float


@dataclass
class Measurement:
    unit: str
    value: float


@dataclass
class Config:
    key: str
    value: str


class MathError(enum.Enum):
    DivisionByZero = 0
    Overflow = 1


class LookupError_(enum.Enum):
    __vox_name__ = "LookupError"
    NotFound = 0
    AccessDenied = 1


class VoxError(VoxEnum, Generic[E]):
    User = Variant(E)
    UnknownMethod = Variant()
    InvalidPayload = Variant(str)
    Cancelled = Variant()
    ConnectionClosed = Variant()
    SessionShutdown = Variant()
    SendFailed = Variant()
    Indeterminate = Variant()


TESTBED = load_json("vox_testbed.json")
TESTBED_TYPES: dict[str, Any] = {
    "bool": bool,
    "u32": U32,
    "u8": U8,
    "u64": U64,
    "i32": I32,
    "i64": int,
    "f64": float,
    "string": str,
    "bytes": bytes,
    "unit": None,
    "never": Never,
    "list": list[str],
    "option": str | None,
    "tuple1": tuple[str],
    "tuple2": tuple[int, int],
    "tuple3": tuple[str, U8, str | None],
    "tuple4": tuple[str, I32, I32, bool],
    "Result": Result[str, VoxError[Never]],
    "VoxError": VoxError[Never],
    "MathError": MathError,
    "LookupError": LookupError_,
    "Person": Person,
    "Point": Point,
    "Rectangle": Rectangle,
    "Color": Color,
    "Shape": Shape,
    "Canvas": Canvas,
    "GnarlyAttr": GnarlyAttr,
    "GnarlyKind": GnarlyKind,
    "GnarlyEntry": GnarlyEntry,
    "GnarlyPayload": GnarlyPayload,
    "Message": BedMessage,
    "TaggedPoint": TaggedPoint,
    "Status": Status,
    "Tag": Tag,
    "Profile": Profile,
    "Record": Record,
    "Measurement": Measurement,
    "Config": Config,
}
CHANNELS = {"rx": ChannelDirection.RX, "tx": ChannelDirection.TX}


@pytest.mark.parametrize("name", sorted(TESTBED["schemas"]["ids"]))
def test_testbed_schema_ids_match_rust(name: str) -> None:
    expected = int(TESTBED["schemas"]["ids"][name], 16)
    if name in CHANNELS:  # Tx<T>/Rx<T> have no Python annotation: a hand-built family schema
        assert schema_hash(ChannelKind(CHANNELS[name], vox.Var("T")), ("T",)) == expected
        return
    assert schema_for(TESTBED_TYPES[name])[0].type_id == expected


def test_testbed_covers_every_vendored_schema() -> None:
    assert set(TESTBED["schemas"]["ids"]) == set(TESTBED_TYPES) | set(CHANNELS)


# --- method ids ------------------------------------------------------------------------------------

METHOD_CASES = [
    (group["service"], name, int(hex_id, 16)) for group in TESTBED["method_ids"] for name, hex_id in group["methods"]
]


@pytest.mark.parametrize(("service", "method", "expected"), METHOD_CASES, ids=[m for _, m, _ in METHOD_CASES])
def test_method_ids_match_rust(service: str, method: str, expected: int) -> None:
    assert method_id(service, method) == expected


def test_at_least_a_hundred_method_ids() -> None:
    assert len({m for _, m, _ in METHOD_CASES}) >= 100


HECK = load_json("heck_cases.json")


@pytest.mark.parametrize(("text", "expected"), HECK["kebab"]["cases"])
def test_heck_kebab_cases(text: str, expected: str) -> None:
    assert kebab(text) == expected


@pytest.mark.parametrize(("text", "expected"), HECK["snake"]["cases"])
def test_heck_snake_cases_through_kebab(text: str, expected: str) -> None:
    assert kebab(text) == expected.replace("_", "-")


@pytest.mark.parametrize(("text", "later_heck"), HECK["kebab"]["not_in_heck_0_5"]["cases"])
def test_heck_0_5_has_no_continuous_script_rule(text: str, later_heck: str) -> None:
    # heck 0.5 keeps the separator these later cases drop; the words themselves agree.
    assert kebab(text) != later_heck
    assert kebab(text).replace("-", "") == later_heck


def test_vox_method_identity_case_variants_agree() -> None:
    ids = {method_id(s, m) for s, m in HECK["vox_method_identity"]["same_id"]}
    assert len(ids) == 1


# --- postcard's wire-format tables -------------------------------------------------------------

PC = load_json("postcard_wire_format.json")
WIDTH = {"u16": U16, "i16": I16, "u32": U32, "i32": I32, "u64": U64, "i64": I64, "u128": U128, "i128": I128}


@pytest.mark.parametrize(("value", "hex_bytes"), PC["varint_u16"])
def test_postcard_unsigned_varint_table(value: int, hex_bytes: str) -> None:
    assert encode(value, U16).hex() == hex_bytes
    assert decode(bytes.fromhex(hex_bytes), U16) == value


@pytest.mark.parametrize(("value", "hex_bytes"), PC["zigzag_i16"])
def test_postcard_zigzag_table(value: int, hex_bytes: str) -> None:
    assert encode(value, I16).hex() == hex_bytes
    assert decode(bytes.fromhex(hex_bytes), I16) == value


def test_postcard_zigzag_erratum_row() -> None:
    value, _, zigzag, printed = PC["zigzag_i16_erratum"]["row"]
    assert encode(value, I16) == encode(int(zigzag.replace("_", ""), 16), U16)
    assert decode(bytes.fromhex(printed), I16) != value


@pytest.mark.parametrize(("type_name", "max_len"), PC["max_encoded_length"])
def test_postcard_maximum_encoded_length(type_name: str, max_len: int) -> None:
    tp = WIDTH[type_name]
    bits = int(type_name[1:])
    extreme = -(2 ** (bits - 1)) if type_name.startswith("i") else 2**bits - 1
    assert len(encode(extreme, tp)) == max_len
    overlong = b"\x80" * max_len + b"\x00"  # zero, one byte longer than the type allows
    with pytest.raises(vox.DecodeError):
        decode(overlong, tp)


@pytest.mark.parametrize("row", PC["canonicalization_u16"], ids=lambda r: r["bytes"])
def test_postcard_canonicalization_table(row: dict[str, Any]) -> None:
    data = bytes.fromhex(row["bytes"])
    if row["accepted"]:
        assert decode(data, U16) == row["value"]
        assert (encode(row["value"], U16) == data) is row["canonical"]
    else:
        with pytest.raises(vox.DecodeError):
            decode(data, U16)


@pytest.mark.parametrize(("kind", "tp"), [("f32", vox.F32), ("f64", F64)])
def test_postcard_float_examples(kind: str, tp: Any) -> None:
    for value, hex_bytes in PC[kind]:
        assert encode(value, tp).hex() == hex_bytes
        assert math.isclose(decode(bytes.fromhex(hex_bytes), tp), value)


def test_postcard_bool_option_and_unit() -> None:
    for value, hex_bytes in PC["bool"]:
        assert encode(value, Bool).hex() == hex_bytes
        assert decode(bytes.fromhex(hex_bytes), Bool) is value
    for hex_bytes in PC["bool_invalid"]:
        with pytest.raises(vox.InvalidBoolError):
            decode(bytes.fromhex(hex_bytes), Bool)
    for value, hex_bytes in PC["option_u8"]:
        assert encode(value, U8 | None).hex() == hex_bytes
        assert decode(bytes.fromhex(hex_bytes), U8 | None) == value
    assert encode(None, None).hex() == PC["unit"]


# --- vox's Swift runtime: bytes it must reject, and a golden VoxError response ---------------------

SWIFT = load_json("vox_swift_negative.json")
ERRORS: dict[str, tuple[type[Exception], ...]] = {
    "trailing_bytes": (vox.TrailingBytesError,),
    "unknown_variant": (vox.UnknownVariantError,),
    "truncated": (vox.UnexpectedEndError, vox.LengthError),
    "overflow": (vox.OutOfRangeError,),
    "invalid_utf8": (vox.InvalidUtf8Error,),
}


@pytest.mark.parametrize("case", SWIFT["message_rejects"], ids=lambda c: c["test"])
def test_swift_message_rejects(case: dict[str, Any]) -> None:
    with pytest.raises(ERRORS[case["error"]]):
        decode(bytes.fromhex(case["bytes"]), Message)


@pytest.mark.parametrize("case", SWIFT["primitive_rejects"], ids=lambda c: c["test"])
def test_swift_primitive_rejects(case: dict[str, Any]) -> None:
    tp = {"bytes": bytes, "string": str, "u32": U32}[case["type"]]
    with pytest.raises(ERRORS[case["error"]]):
        decode(bytes.fromhex(case["bytes"]), tp)


def test_swift_vox_error_discriminants() -> None:
    for name, index in SWIFT["vox_error_discriminants"]:
        variant = getattr(VoxError, name)
        value = variant("x") if name in ("User", "InvalidPayload") else variant()
        assert encode(value, VoxError[str])[0] == index


def test_swift_infallible_responses() -> None:
    invalid, trailing = SWIFT["infallible_responses"]
    decoded = decode(bytes.fromhex(invalid["bytes"]), Result[None, VoxError[Never]])
    assert decoded == vox.Err(VoxError.InvalidPayload(invalid["decodes_to"]["reason"]))
    with pytest.raises(vox.TrailingBytesError):
        decode(bytes.fromhex(trailing["bytes"]), Result[bool, VoxError[Never]])


# --- op_store's own derived vectors stay only where ground truth agrees ----------------------------


def test_derived_vectors_agree_with_ground_truth() -> None:
    derived = load_json("op_store_derived.json")["schema_hash"]
    published: dict[str, str] = dict(TESTBED["schemas"]["ids"])
    for registry in WIRE["registries"].values():
        published.update(dict(registry["schemas"]))
    names = {key: key.split(":", 1)[1] for key in derived if key.startswith("primitive:")}
    names["family:list<T>"] = "list"
    names["struct Point { x: i32, y: i32 }"] = "Point"
    confirmed = {key for key, name in names.items() if name in published}
    assert len(confirmed) == 14
    for key in confirmed:
        assert int(derived[key], 16) == int(published[names[key]], 16), key
    varints = {
        int(k.split(":")[1]): v for k, v in load_json("op_store_derived.json")["postcard"].items() if k[:4] == "u64:"
    }
    for value, hex_bytes in PC["varint_u16"]:
        if value in varints:
            assert varints[value] == hex_bytes


# --- postcard's own loopback test ----------------------------------------------------------------


@dataclass
class BasicU8S:
    st: U16
    ei: U8
    sf: U64
    tt: U32


class BasicEnum(enum.Enum):
    Bib = 0
    Bim = 1
    Bap = 2


@dataclass
class EnumStruct:
    eight: U8
    sixt: U16


class DataEnum(VoxEnum):
    Bib = Variant(U16)
    Bim = Variant(U64)
    Bap = Variant(U8)
    Kim = Variant(EnumStruct)
    Chi = Variant(a=U8, b=U32)
    Sho = Variant(U16, U8)


NewTypeStruct = NewType("NewTypeStruct", U32)


def _data_enum(value: dict[str, Any]) -> DataEnum:
    variant, inner = getattr(DataEnum, value["variant"]), value["value"]
    if isinstance(inner, dict):
        return variant(EnumStruct(**inner)) if value["variant"] == "Kim" else variant(**inner)
    return variant(*inner) if isinstance(inner, list) else variant(inner)


LOOPBACK: dict[str, tuple[Any, Any]] = {  # the Rust type name -> (annotation, value from JSON)
    "unit": (None, lambda v: v),
    "bool": (Bool, lambda v: v),
    "u8": (U8, lambda v: v),
    "u16": (U16, lambda v: v),
    "u32": (U32, lambda v: v),
    "u64": (U64, lambda v: v),
    "i16": (I16, lambda v: v),
    "char": (vox.Char, lambda v: v),
    "BasicU8S": (BasicU8S, lambda v: BasicU8S(**v)),
    "BasicEnum": (BasicEnum, lambda v: BasicEnum[v]),
    "DataEnum": (DataEnum, _data_enum),
    "(u8, u16)": (tuple[U8, U16], tuple),
    "NewTypeStruct": (NewTypeStruct, lambda v: v),
    "TupleStruct": (tuple[U8, U16], tuple),
    "Vec<u8>": (list[U8], lambda v: v),
    "String": (str, lambda v: v),
    "Map<u8, u8>": (dict[U8, U8], lambda v: {k: x for k, x in v}),
    "CString": (bytes, lambda v: v.encode()),
}


@pytest.mark.parametrize(("type_name", "value", "hex_bytes"), PC["loopback"]["cases"])
def test_postcard_loopback_cases(type_name: str, value: Any, hex_bytes: str) -> None:
    tp, build = LOOPBACK[type_name]
    expected = build(value)
    assert encode(expected, tp).hex() == hex_bytes
    assert decode(bytes.fromhex(hex_bytes), tp) == expected
