"""``decode_ref``: decoding by schemas alone, into the documented JSON shapes."""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import pytest

from op_store.vox import (
    F32,
    F64,
    I8,
    U8,
    U64,
    U128,
    ArrayKind,
    ChannelDirection,
    ChannelKind,
    Char,
    Concrete,
    EnumKind,
    Err,
    FieldSchema,
    InvalidSchemaError,
    InvalidValueError,
    LengthError,
    ListKind,
    Ok,
    Payload,
    PrimitiveType,
    Result,
    Schema,
    SchemaRegistry,
    StructKind,
    TrailingBytesError,
    UnknownSchemaError,
    UnknownVariantError,
    Var,
    Variant,
    VariantSchema,
    VoxEnum,
    decode_ref,
    encode,
    fixed_array,
    primitive_schema,
    schema_for,
    schema_hash,
)


def roundtrip(value: Any, tp: Any) -> Any:
    root, registry = schema_for(tp)
    out = decode_ref(encode(value, tp), root, registry)
    json.dumps(out)  # always JSON-able
    return out


@dataclass
class Point:
    x: int
    y: int


class Color(enum.Enum):
    RED = 1
    GREEN = 2


class Shape(VoxEnum):
    Empty = Variant()
    Circle = Variant(F64)
    Segment = Variant(int, int)
    Named = Variant(name=str)


T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    items: list[T]
    total: U64


@pytest.mark.parametrize(
    ("value", "tp", "expected"),
    [
        (True, bool, True),
        (255, U8, 255),
        (-5, I8, -5),
        (2**128 - 1, U128, 2**128 - 1),
        (1.5, F32, 1.5),
        (math.nan, F64, "NaN"),
        (math.inf, F32, "Infinity"),
        (-math.inf, F64, "-Infinity"),
        ("é", Char, "é"),
        ("hi", str, "hi"),
        (b"\xde\xad", bytes, "dead"),
        (b"\xbe\xef", Payload, "beef"),
        (None, None, None),
        (Point(1, -2), Point, {"x": 1, "y": -2}),
        (Color.GREEN, Color, {"variant": "GREEN", "value": None}),
        (Shape.Empty(), Shape, {"variant": "Empty", "value": None}),
        (Shape.Circle(2.5), Shape, {"variant": "Circle", "value": 2.5}),
        (Shape.Segment(1, 2), Shape, {"variant": "Segment", "value": [1, 2]}),
        (Shape.Named(name="n"), Shape, {"variant": "Named", "value": {"name": "n"}}),
        (Ok(3), Result[U8, str], {"variant": "Ok", "value": 3}),
        (Err("no"), Result[U8, str], {"variant": "Err", "value": "no"}),
        (None, U8 | None, None),
        (7, U8 | None, 7),
        ([1, 2], list[U8], [1, 2]),
        ((1, "a"), tuple[U8, str], [1, "a"]),
        ((1, 2, 3), fixed_array(U8, 3), [1, 2, 3]),
        ({"a": 1, "b": 2}, dict[str, U8], {"a": 1, "b": 2}),
        ({"é": 1}, dict[Char, U8], {"é": 1}),
        ({2: "x", 1: "y"}, dict[U8, str], [[2, "x"], [1, "y"]]),
        ({}, dict[U8, str], []),
        ({}, dict[str, str], {}),
        (Page([Point(1, 2)], 1), Page[Point], {"items": [{"x": 1, "y": 2}], "total": 1}),
    ],
)
def test_json_shapes(value: Any, tp: Any, expected: Any) -> None:
    assert roundtrip(value, tp) == expected


def test_unknown_schema_reports_the_offset_of_its_value() -> None:
    root, registry = schema_for(Point)
    del registry[primitive_schema(PrimitiveType.I64).id]
    with pytest.raises(UnknownSchemaError) as info:
        decode_ref(encode(Point(1, 2), Point), root, registry)
    assert info.value.offset == 0  # the first field, at the start
    assert info.value.schema_id == primitive_schema(PrimitiveType.I64).id


def test_unknown_schema_in_a_later_field() -> None:
    @dataclass
    class Pair:
        a: U8
        b: str

    root, registry = schema_for(Pair)
    del registry[primitive_schema(PrimitiveType.STRING).id]
    with pytest.raises(UnknownSchemaError) as info:
        decode_ref(b"\x01\x01x", root, registry)
    assert info.value.offset == 1


def test_unknown_root_schema() -> None:
    with pytest.raises(UnknownSchemaError) as info:
        decode_ref(b"", Concrete(12345), SchemaRegistry())
    assert info.value.offset == 0


def test_source_is_any_object_with_get_schema() -> None:
    root, registry = schema_for(list[U8])
    calls: list[int] = []

    class Source:
        def get_schema(self, schema_id: int) -> Schema | None:
            calls.append(schema_id)
            return registry.get(schema_id)

    assert decode_ref(b"\x03\x01\x02\x03", root, Source()) == [1, 2, 3]
    assert len(calls) == len(set(calls)) == 2  # each id fetched once


def test_unbound_var_is_an_invalid_schema() -> None:
    u8 = primitive_schema(PrimitiveType.U8)
    bad = Schema(id=schema_hash(ListKind(Var("X"))), kind=ListKind(Var("X")), type_params=("T",))
    registry = SchemaRegistry([u8, bad])
    with pytest.raises(InvalidSchemaError, match="'X'"):
        decode_ref(b"\x01\x01", Concrete(bad.id, (Concrete(u8.id),)), registry)


def test_wrong_number_of_type_arguments_is_an_invalid_schema() -> None:
    root, registry = schema_for(list[U8])
    with pytest.raises(InvalidSchemaError, match="type arguments"):
        decode_ref(b"\x00", Concrete(root.type_id), registry)


def test_enum_variant_looked_up_by_index_not_position() -> None:
    u8 = primitive_schema(PrimitiveType.U8)
    kind = EnumKind("Sparse", (VariantSchema("A", 5), VariantSchema("B", 2)))
    sparse = Schema(id=schema_hash(kind), kind=kind)
    registry = SchemaRegistry([u8, sparse])
    assert decode_ref(b"\x02", Concrete(sparse.id), registry) == {"variant": "B", "value": None}
    with pytest.raises(UnknownVariantError) as info:
        decode_ref(b"\x00", Concrete(sparse.id), registry)
    assert info.value.offset == 0


def test_channel_decodes_as_its_id() -> None:
    u8 = primitive_schema(PrimitiveType.U8)
    kind = ChannelKind(ChannelDirection.TX, Var("T"))
    channel = Schema(id=schema_hash(kind), kind=kind, type_params=("T",))
    registry = SchemaRegistry([u8, channel])
    assert decode_ref(b"\xac\x02", Concrete(channel.id, (Concrete(u8.id),)), registry) == 300


def test_array_schema_with_zero_sized_elements_is_bounded() -> None:
    unit = primitive_schema(PrimitiveType.UNIT)
    kind = ArrayKind(Var("T"), 2**63)
    array = Schema(id=schema_hash(kind), kind=kind, type_params=("T",))
    registry = SchemaRegistry([unit, array])
    with pytest.raises(LengthError) as info:
        decode_ref(b"", Concrete(array.id, (Concrete(unit.id),)), registry)
    assert info.value.offset == 0


def test_duplicate_string_key_is_refused() -> None:
    root, registry = schema_for(dict[str, U8])
    with pytest.raises(InvalidValueError) as info:
        decode_ref(b"\x02\x01a\x01\x01a\x02", root, registry)
    assert info.value.offset == 4  # where the second "a" starts


def test_trailing_bytes() -> None:
    root, registry = schema_for(U8)
    with pytest.raises(TrailingBytesError) as info:
        decode_ref(b"\x01\x02", root, registry)
    assert info.value.offset == 1


def test_recursive_struct_through_schemas() -> None:
    @dataclass
    class Cell:
        head: U8
        tail: Cell | None

    value = Cell(1, Cell(2, None))
    assert roundtrip(value, Cell) == {"head": 1, "tail": {"head": 2, "tail": None}}


def test_hand_built_struct_schema() -> None:
    u8 = primitive_schema(PrimitiveType.U8)
    kind = StructKind("P", (FieldSchema("a", Concrete(u8.id)), FieldSchema("b", Concrete(u8.id))))
    p = Schema(id=schema_hash(kind), kind=kind)
    assert decode_ref(b"\x01\x02", Concrete(p.id), SchemaRegistry([u8, p])) == {"a": 1, "b": 2}
