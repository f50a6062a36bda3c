"""The Python spellings of vox enums: ``VoxEnum``/``Variant`` declarations and ``Result``/``Ok``/``Err``."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Generic, TypeVar

import pytest

from op_store.vox import F64, I32, U32, Err, Ok, Result, Variant, VoxEnum, decode, encode


class Shape(VoxEnum):
    Empty = Variant()
    Circle = Variant(F64)
    Segment = Variant(I32, I32)
    Point = Variant(x=I32, y=I32)

    class Rect:
        w: U32
        h: U32 = 1

        def area(self) -> int:
            return self.w * self.h

    class _Helper:  # private names are not variants
        pass

    SIDES = 4  # nor are plain attributes


def test_variants_are_frozen_dataclass_subclasses_of_the_enum() -> None:
    for value in (Shape.Empty(), Shape.Circle(1.0), Shape.Segment(1, 2), Shape.Point(x=1, y=2), Shape.Rect(2)):
        assert isinstance(value, Shape)
        assert dataclasses.is_dataclass(value)
        with pytest.raises(dataclasses.FrozenInstanceError):
            value.extra = 1  # type: ignore[attr-defined]
    assert [v.__name__ for v in Shape.__vox_variants__] == ["Empty", "Circle", "Segment", "Point", "Rect"]  # type: ignore[attr-defined]
    assert Shape.SIDES == 4


def test_variant_fields_equality_and_hashing() -> None:
    assert Shape.Circle(1.5).value == 1.5
    assert (Shape.Segment(1, 2)._0, Shape.Segment(1, 2)._1) == (1, 2)
    assert Shape.Rect(w=3, h=4).area() == 12
    assert Shape.Rect(3) == Shape.Rect(3, 1) != Shape.Rect(3, 2)
    assert Shape.Empty() == Shape.Empty()
    assert Shape.Circle(1.0) != Shape.Segment(1, 0)
    assert len({Shape.Circle(1.0), Shape.Circle(1.0), Shape.Empty()}) == 2
    assert repr(Shape.Circle(1.5)) == "Shape.Circle(value=1.5)"


def test_variants_work_with_match() -> None:
    def describe(shape: Shape) -> str:
        match shape:
            case Shape.Circle(radius):
                return f"circle {radius}"
            case Shape.Segment(a, b):
                return f"segment {a}..{b}"
            case Shape.Rect(w=w):
                return f"rect {w}"
            case _:
                return "other"

    assert describe(Shape.Circle(2.0)) == "circle 2.0"
    assert describe(Shape.Segment(1, 5)) == "segment 1..5"
    assert describe(Shape.Rect(7)) == "rect 7"
    assert describe(Shape.Empty()) == "other"


def test_the_enum_itself_cannot_be_instantiated_or_subclassed() -> None:
    with pytest.raises(TypeError, match="build one of its variants"):
        Shape()
    with pytest.raises(TypeError, match="cannot be subclassed"):

        class More(Shape):  # type: ignore[misc]
            Extra = Variant()

    with pytest.raises(TypeError, match="cannot be subclassed"):

        class Round(Shape.Circle):  # type: ignore[misc, valid-type]
            pass


def test_variant_refuses_mixed_positional_and_named_fields() -> None:
    with pytest.raises(TypeError, match="not both"):
        Variant(int, name=str)


def test_variants_pickle() -> None:
    value = Shape.Rect(2, 3)
    assert pickle.loads(pickle.dumps(value)) == value


E = TypeVar("E")


class Outcome(VoxEnum, Generic[E]):
    User = Variant(E)
    UnknownMethod = Variant()
    InvalidPayload = Variant(str)


def test_generic_enum_round_trip() -> None:
    for value in (Outcome.User("oops"), Outcome.UnknownMethod(), Outcome.InvalidPayload("bad")):
        assert decode(encode(value, Outcome[str]), Outcome[str]) == value
    assert encode(Outcome.User(7), Outcome[U32]) == b"\x00\x07"


def test_ok_and_err_are_values_with_equality_and_match() -> None:
    assert Ok(1) == Ok(1) and Ok(1) != Err(1) and Err("x") == Err("x")
    assert hash(Ok(1)) == hash(Ok(1))
    assert Ok(1).is_ok() and Err(1).is_err() and not Ok(1).is_err()
    assert Ok(5).unwrap() == 5
    with pytest.raises(ValueError, match="unwrap"):
        Err("boom").unwrap()
    match Err("boom"):
        case Ok(value):
            pytest.fail(f"matched Ok({value})")
        case Err(error):
            assert error == "boom"
    with pytest.raises(dataclasses.FrozenInstanceError):
        Ok(1).value = 2  # type: ignore[misc]


def test_result_is_only_an_annotation() -> None:
    with pytest.raises(TypeError, match="annotation"):
        Result()
    assert isinstance(Ok(1), Result) and isinstance(Err(1), Result)
