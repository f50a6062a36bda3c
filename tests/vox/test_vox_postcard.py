"""Postcard: every vector of tests/vectors/op_store_derived.json both ways, each malformed-input case as its own
test (error class and byte offset), and encode-side refusals."""

from __future__ import annotations

import enum
import json
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any, Generic, Optional, TypeVar

import pytest

from op_store.vox import (
    F32,
    F64,
    I8,
    I16,
    I32,
    I64,
    I128,
    U8,
    U16,
    U32,
    U64,
    U128,
    Char,
    DecodeError,
    EncodeError,
    Err,
    InvalidBoolError,
    InvalidTagError,
    InvalidUtf8Error,
    InvalidValueError,
    LengthError,
    NestingError,
    Never,
    Ok,
    OutOfRangeError,
    OverlongVarintError,
    Payload,
    Result,
    TrailingBytesError,
    UnexpectedEndError,
    UnknownVariantError,
    Variant,
    VoxEnum,
    decode,
    decode_ref,
    encode,
    fixed_array,
    schema_for,
)
from tests.vectors import load_vectors


@dataclass
class Point:
    x: I32
    y: I32


PRIMS: dict[str, Any] = {
    "u8": U8,
    "u16": U16,
    "u32": U32,
    "u64": U64,
    "u128": U128,
    "i8": I8,
    "i16": I16,
    "i32": I32,
    "i64": I64,
    "i128": I128,
    "f32": F32,
    "f64": F64,
    "bool": bool,
    "string": str,
    "char": Char,
    "bytes": bytes,
}


def parse_type(text: str) -> Any:
    if text.startswith("option<") and text.endswith(">"):
        return Optional[parse_type(text[7:-1])]  # noqa: UP045 - exercise the typing spelling too
    if text.startswith("list<") and text.endswith(">"):
        return list[parse_type(text[5:-1])]  # type: ignore[misc]
    return PRIMS[text]


def parse_value(type_text: str, literal: str) -> Any:
    if type_text.startswith("option<"):
        if literal == "None":
            return None
        assert literal.startswith("Some(") and literal.endswith(")"), literal
        return parse_value(type_text[7:-1], literal[5:-1])
    if type_text.startswith("list<"):
        return [parse_value(type_text[5:-1], json.dumps(x)) for x in json.loads(literal)]
    if type_text[0] in "ui" and type_text[1:].isdigit():
        return int(literal)
    if type_text[0] == "f":
        return float(literal)
    if type_text == "bool":
        return {"true": True, "false": False}[literal]
    if type_text == "bytes":
        return bytes.fromhex(literal)
    if type_text in ("string", "char"):
        return literal
    raise AssertionError(f"no parser for {type_text}")


def vector_case(key: str) -> tuple[Any, Any]:
    if key == "Point{x:10,y:-20}":
        return Point(10, -20), Point
    type_text, sep, literal = key.partition(":")
    assert sep, f"unrecognised postcard vector {key!r}: teach this test to read it"
    return parse_value(type_text, literal), parse_type(type_text)


POSTCARD = load_vectors()["postcard"]


@pytest.mark.parametrize("key", list(POSTCARD))
def test_postcard_vector_encode(key: str) -> None:
    value, tp = vector_case(key)
    assert encode(value, tp).hex() == POSTCARD[key]


@pytest.mark.parametrize("key", list(POSTCARD))
def test_postcard_vector_decode(key: str) -> None:
    value, tp = vector_case(key)
    decoded = decode(bytes.fromhex(POSTCARD[key]), tp)
    assert decoded == value
    assert type(decoded) is type(value)


@pytest.mark.parametrize("key", list(POSTCARD))
def test_postcard_vector_decode_ref(key: str) -> None:
    value, tp = vector_case(key)
    root, registry = schema_for(tp)
    got = decode_ref(bytes.fromhex(POSTCARD[key]), root, registry)
    if isinstance(value, Point):
        value = {"x": value.x, "y": value.y}
    elif isinstance(value, bytes):
        value = value.hex()
    assert got == value


# --- more encodings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "tp", "hex_"),
    [
        (0, U16, "00"),
        (65535, U16, "ffff03"),
        (2**32 - 1, U32, "ffffffff0f"),
        (2**128 - 1, U128, "ff" * 18 + "03"),
        (-(2**63), I64, "ff" * 9 + "01"),
        (2**63 - 1, I64, "fe" + "ff" * 8 + "01"),
        (-(2**127), I128, "ff" * 18 + "03"),
        (-128, I8, "80"),
        (127, I8, "7f"),
        (-1, int, "01"),
        (1.5, float, "000000000000f83f"),
        (False, bool, "00"),
        ("", str, "00"),
        ("héllo 世界 🦀", str, "1268c3a96c6c6f20e4b896e7958c20f09fa680"),
        ("🦀", Char, "04f09fa680"),
        (b"\x00\x01", Payload, "020000000001"),
        (None, None, ""),
        ((), tuple[()], ""),
        ((1, "a"), tuple[U8, str], "010161"),
        ((1, 2), tuple[U8, ...], "020102"),
        ((1, 2, 3), fixed_array(U8, 3), "010203"),
        ({"alpha": 1, "beta": 2}, dict[str, U32], "0205616c70686101046265746102"),
        (Ok("hello"), Result[str, U32], "000568656c6c6f"),
        (Err(7), Result[str, U32], "0107"),
    ],
)
def test_encodings(value: Any, tp: Any, hex_: str) -> None:
    assert encode(value, tp).hex() == hex_
    assert decode(bytes.fromhex(hex_), tp) == value


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


class Shape(VoxEnum):
    Empty = Variant()
    Circle = Variant(F64)
    Segment = Variant(I32, I32)
    Named = Variant(name=str)

    class Rect:
        w: U32
        h: U32 = 1


@pytest.mark.parametrize(
    ("value", "hex_"),
    [
        (Shape.Empty(), "00"),
        (Shape.Circle(1.5), "01000000000000f83f"),
        (Shape.Segment(-1, 1), "020102"),
        (Shape.Named(name="a"), "030161"),
        (Shape.Rect(w=10, h=20), "040a14"),
    ],
)
def test_rich_enum_encodings(value: Shape, hex_: str) -> None:
    assert encode(value, Shape).hex() == hex_
    decoded = decode(bytes.fromhex(hex_), Shape)
    assert decoded == value
    assert type(decoded) is type(value)


def test_unit_enum_uses_declaration_position() -> None:
    assert [encode(c, Color) for c in Color] == [b"\x00", b"\x01", b"\x02"]
    assert decode(b"\x02", Color) is Color.BLUE


def test_sets_decode_to_their_annotated_type_and_encode_canonically() -> None:
    value = {"pear", "apple", "fig"}
    data = encode(value, set[str])
    assert data == encode(frozenset(value), frozenset[str]) == encode(set(sorted(value, reverse=True)), set[str])
    assert decode(data, set[str]) == value and type(decode(data, set[str])) is set
    assert type(decode(data, frozenset[str])) is frozenset
    assert type(decode(data, list[str])) is list  # the same List family on the wire


def test_floats_keep_nan_and_infinities() -> None:
    for tp in (F32, F64):
        assert math.isnan(decode(encode(math.nan, tp), tp))
        assert decode(encode(math.inf, tp), tp) == math.inf
        assert decode(encode(-math.inf, tp), tp) == -math.inf
    assert decode(encode(0.1, F32), F32) == pytest.approx(0.1, rel=1e-7)


def test_int_is_accepted_for_a_float() -> None:
    assert encode(3, F64) == encode(3.0, F64)


def test_integer_like_objects_are_accepted_for_ints() -> None:
    class Index:  # what numpy integers look like to Python
        def __index__(self) -> int:
            return 300

    assert encode(Index(), U16) == encode(300, U16)
    with pytest.raises(EncodeError, match="does not fit u8"):
        encode(Index(), U8)


def test_non_minimal_varint_within_its_length_is_accepted() -> None:
    # postcard (Rust) accepts redundant 0x80 groups as long as the length limit holds.
    assert decode(b"\x81\x00", U32) == 1


T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    items: list[T]
    next: Page[T] | None = None


def test_generic_dataclass_round_trip() -> None:
    page = Page([1, 2], Page([3]))
    assert encode(page, Page[U8]).hex() == "02010201010300"
    assert decode(encode(page, Page[U8]), Page[U8]) == page
    assert decode(encode(Page(["a"]), Page[str]), Page[str]) == Page(["a"])


@dataclass(frozen=True)
class Flags:
    kw: U8 = field(kw_only=True)
    a: U8
    derived: int = field(init=False, default=0)


def test_kw_only_fields_and_init_false_fields() -> None:
    value = Flags(1, kw=2)
    assert encode(value, Flags) == b"\x02\x01"  # declaration order (kw first), init=False not encoded
    assert decode(b"\x02\x01", Flags) == value


# --- malformed input: one test per case, asserting the class and the offset ------------------


def raises_at(cls: type[DecodeError], offset: int, data: bytes, tp: Any) -> DecodeError:
    with pytest.raises(cls) as info:
        decode(data, tp)
    assert info.value.offset == offset, str(info.value)
    assert isinstance(info.value, DecodeError)
    return info.value


def test_truncated_varint() -> None:
    raises_at(UnexpectedEndError, 0, b"\x80\x80", U32)


def test_truncated_empty_input() -> None:
    raises_at(UnexpectedEndError, 0, b"", U8)


def test_truncated_second_struct_field() -> None:
    raises_at(UnexpectedEndError, 1, b"\x14", Point)


def test_truncated_float() -> None:
    raises_at(UnexpectedEndError, 0, b"\x00\x00\xc0", F32)
    raises_at(UnexpectedEndError, 1, b"\x01\x00\x00", Optional[F64])  # noqa: UP045


def test_truncated_list_element() -> None:
    # count 2 needs 2 bytes and 2 are there, but the second u32 varint is cut short
    raises_at(UnexpectedEndError, 2, b"\x02\x01\x80", list[U32])


def test_trailing_bytes() -> None:
    raises_at(TrailingBytesError, 1, b"\x01\x00", U8)
    raises_at(TrailingBytesError, 2, b"\x14\x27\x00", Point)


def test_overlong_varint_u32() -> None:
    raises_at(OverlongVarintError, 0, b"\xff\xff\xff\xff\xff\x01", U32)


def test_overlong_varint_u16() -> None:
    raises_at(OverlongVarintError, 0, b"\x80\x80\x80\x00", U16)


def test_overlong_varint_u64() -> None:
    raises_at(OverlongVarintError, 0, b"\x80" * 10 + b"\x00", U64)


def test_overlong_varint_inside_a_struct() -> None:
    raises_at(OverlongVarintError, 1, b"\x02" + b"\xff" * 6, Point)


def test_overlong_length_prefix() -> None:
    raises_at(OverlongVarintError, 0, b"\x80" * 11, str)


def test_varint_final_byte_beyond_u16() -> None:
    raises_at(OutOfRangeError, 0, b"\xff\xff\x04", U16)  # 0x1ffff does not fit 16 bits


def test_varint_final_byte_beyond_u32() -> None:
    raises_at(OutOfRangeError, 0, b"\xff\xff\xff\xff\x10", U32)


def test_varint_final_byte_beyond_u64() -> None:
    raises_at(OutOfRangeError, 0, b"\xff" * 9 + b"\x02", U64)


def test_zigzag_beyond_i32() -> None:
    raises_at(OutOfRangeError, 1, b"\x00\xff\xff\xff\xff\x10", Point)


def test_invalid_utf8_string() -> None:
    raises_at(InvalidUtf8Error, 3, b"\x03ab\xff", str)


def test_invalid_utf8_char() -> None:
    raises_at(InvalidUtf8Error, 1, b"\x02\xc3\x28", Char)


def test_char_must_be_one_code_point() -> None:
    raises_at(InvalidValueError, 0, b"\x02ab", Char)
    raises_at(InvalidValueError, 0, b"\x00", Char)


def test_unknown_unit_enum_variant() -> None:
    raises_at(UnknownVariantError, 0, b"\x03", Color)


def test_unknown_rich_enum_variant() -> None:
    raises_at(UnknownVariantError, 1, b"\x01\x05", list[Shape])


def test_unknown_result_variant() -> None:
    raises_at(UnknownVariantError, 0, b"\x02\x00", Result[U8, U8])


def test_bool_not_zero_or_one() -> None:
    raises_at(InvalidBoolError, 0, b"\x02", bool)
    raises_at(InvalidBoolError, 1, b"\x01\xff", list[bool])


def test_option_tag_not_zero_or_one() -> None:
    raises_at(InvalidTagError, 0, b"\x02\x00", U8 | None)


def test_string_length_larger_than_input() -> None:
    raises_at(LengthError, 0, b"\x05abc", str)


def test_bytes_length_larger_than_input() -> None:
    raises_at(LengthError, 1, b"\x01\xff\xff\xff\xff\x0f", Optional[bytes])  # noqa: UP045


def test_payload_length_larger_than_input() -> None:
    raises_at(LengthError, 0, b"\xff\xff\xff\xff\x00", Payload)


def test_truncated_payload_length() -> None:
    raises_at(UnexpectedEndError, 0, b"\x01\x00", Payload)


def test_huge_list_count_is_refused_before_allocating() -> None:
    started = time.perf_counter()
    raises_at(LengthError, 0, b"\xff\xff\xff\xff\xff\xff\xff\xff\x7f\x00", list[U64])
    raises_at(LengthError, 0, b"\xff\xff\xff\xff\x0f", dict[str, str])
    assert time.perf_counter() - started < 0.5


def test_count_is_checked_against_the_element_size() -> None:
    # 3 f64s need 24 bytes; 20 are there: refused up front, not after decoding two of them.
    raises_at(LengthError, 0, b"\x03" + b"\x00" * 20, list[F64])


def test_zero_sized_elements_are_bounded() -> None:
    assert decode(b"\x03", list[None]) == [None, None, None]
    raises_at(LengthError, 0, b"\xff\xff\xff\xff\x0f", list[None])
    # nested: each inner count is small but together they exceed the per-decode budget
    inner = b"\x80\x80\x01"  # 2**14: four of them use up the budget of 2**16, the fifth exceeds it
    raises_at(LengthError, 1 + 4 * len(inner), b"\x05" + inner * 5, list[list[None]])


def test_duplicate_map_key() -> None:
    raises_at(InvalidValueError, 3, b"\x02\x01\x01\x01\x02", dict[U8, U8])


def test_duplicate_set_element() -> None:
    raises_at(InvalidValueError, 2, b"\x02\x01\x01", set[U8])


def test_never_has_no_values() -> None:
    raises_at(InvalidValueError, 1, b"\x01", Result[U8, Never])


@dataclass
class Positive:
    n: int

    def __post_init__(self) -> None:
        if self.n <= 0:
            raise ValueError("n must be positive")


def test_constructor_rejecting_decoded_fields() -> None:
    err = raises_at(InvalidValueError, 1, b"\x00\x01", tuple[U8, Positive])
    assert "n must be positive" in str(err)


@dataclass
class Chain:
    next: Chain | None


def test_deep_nesting_raises_nesting_error() -> None:
    depth = 5000
    with pytest.raises(NestingError) as info:
        decode(b"\x01" * depth + b"\x00", Chain)
    assert 0 < info.value.offset < depth
    value = decode(b"\x01" * 50 + b"\x00", Chain)  # modest depth is fine
    assert encode(value, Chain) == b"\x01" * 50 + b"\x00"


def test_decode_accepts_bytes_like_and_refuses_other_types() -> None:
    assert decode(bytearray(b"\x05"), U8) == decode(memoryview(b"\x05"), U8) == 5
    with pytest.raises(TypeError):
        decode(5, U8)  # type: ignore[arg-type]


# --- encode refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "tp", "needle"),
    [
        (300, U8, "does not fit u8"),
        (-1, U32, "does not fit u32"),
        (2**63, int, "does not fit i64"),
        (2**128, U128, "does not fit u128"),
        (-129, I8, "does not fit i8"),
        (True, U8, "expected an int"),
        (1.0, U8, "expected an int"),
        (1, bool, "expected a bool"),
        ("ab", bytes, "expected bytes"),
        (b"ab", str, "expected a str"),
        ("ab", Char, "one character"),
        ("\ud800", str, "UTF-8"),
        (1e39, F32, "does not fit f32"),
        (2**1024, F64, "does not fit f64"),
        ("1.5", F64, "expected a float"),
        (None, U8, "expected an int"),
        (0, None, "expected None"),
        ((1,), tuple[U8, U8], "tuple of 2"),
        ([1, 2, 3], fixed_array(U8, 2), "array"),
        ("abc", list[str], "expected a list"),
        ([1], dict[U8, U8], "expected a dict"),
        ([1], set[U8], "expected a set"),
        ("RED", Color, "member of Color"),
        (Shape.Circle(1.0), Color, "member of Color"),
        (Color.RED, Shape, "variant of Shape"),
        (Ok(1), Result[str, U8], "expected a str"),
        (1, Result[U8, U8], "Ok(...) or Err(...)"),
        (Point(1, 2), Page[U8], "Page"),
        ({"x": 1, "y": 2}, Point, "Point"),
        (1, Never, "never"),
    ],
)
def test_encode_refuses_ill_typed_values(value: Any, tp: Any, needle: str) -> None:
    with pytest.raises(EncodeError, match=re.escape(needle)) as info:
        encode(value, tp)
    assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)


def test_encode_error_names_the_path() -> None:
    @dataclass
    class Outer:
        points: list[Point]

    with pytest.raises(EncodeError) as info:
        encode(Outer([Point(1, 2), Point(3, 2**40)]), Outer)
    assert info.value.path == ["points", "[1]", "y"]
    assert "(at points[1].y)" in str(info.value)


def test_encode_cyclic_value_is_an_encode_error() -> None:
    chain = Chain(None)
    chain.next = chain
    with pytest.raises(EncodeError, match="nested too deeply"):
        encode(chain, Chain)


def test_unsupported_annotation_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="object"):
        encode(1, object)
    with pytest.raises(TypeError, match="not hashable"):
        encode({}, dict[list[int], int])
