"""``schema_for``: which schemas Python annotations map to, families, recursion, errors and caching."""

from __future__ import annotations

import collections.abc
import enum
import typing
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, NewType, Optional, TypeVar

import pytest

from op_store.vox import (
    F32,
    I32,
    U8,
    U32,
    Bytes,
    Concrete,
    EnumKind,
    FieldSchema,
    ListKind,
    MapKind,
    NewtypePayload,
    OptionKind,
    Payload,
    PrimitiveKind,
    PrimitiveType,
    Result,
    SchemaRegistry,
    StructKind,
    StructPayload,
    TupleKind,
    TuplePayload,
    UnitPayload,
    Var,
    Variant,
    VariantSchema,
    VoxEnum,
    fixed_array,
    primitive_schema,
    schema_closure,
    schema_for,
    schema_hash,
)
from op_store.vox.extract import _build_cached


def prim_id(p: PrimitiveType) -> int:
    return primitive_schema(p).id


def prim(p: PrimitiveType) -> Concrete:
    return Concrete(prim_id(p))


LIST = schema_hash(ListKind(Var("T")))
OPTION = schema_hash(OptionKind(Var("T")))
MAP = schema_hash(MapKind(Var("K"), Var("V")))


def closure_ids(tp: Any) -> set[int]:
    root, registry = schema_for(tp)
    ids = {s.id for s in schema_closure(root, registry)}
    assert ids == set(registry), "the registry holds exactly the closure of the root"
    return ids


@pytest.mark.parametrize(
    ("tp", "p"),
    [
        (bool, PrimitiveType.BOOL),
        (int, PrimitiveType.I64),
        (float, PrimitiveType.F64),
        (str, PrimitiveType.STRING),
        (bytes, PrimitiveType.BYTES),
        (None, PrimitiveType.UNIT),
        (type(None), PrimitiveType.UNIT),
        (typing.Never, PrimitiveType.NEVER),
        (typing.NoReturn, PrimitiveType.NEVER),
        (tuple[()], PrimitiveType.UNIT),
        (U8, PrimitiveType.U8),
        (F32, PrimitiveType.F32),
        (Bytes, PrimitiveType.BYTES),
        (Payload, PrimitiveType.PAYLOAD),
        (NewType("UserId", int), PrimitiveType.I64),
        (Annotated[str, "documentation only"], PrimitiveType.STRING),
    ],
)
def test_plain_types_and_markers(tp: Any, p: PrimitiveType) -> None:
    root, registry = schema_for(tp)
    assert root == prim(p)
    assert registry == {root.type_id: primitive_schema(p)}


@pytest.mark.parametrize(
    "tp",
    [list[U32], set[U32], frozenset[U32], tuple[U32, ...], typing.List[U32], collections.abc.Sequence[U32]],  # noqa: UP006
)
def test_sequences_share_the_list_family(tp: Any) -> None:
    root, registry = schema_for(tp)
    assert root == Concrete(LIST, (prim(PrimitiveType.U32),))
    assert registry[LIST].kind == ListKind(Var("T")) and registry[LIST].type_params == ("T",)


def test_fixed_tuples_are_one_family_per_arity() -> None:
    root2, registry = schema_for(tuple[U8, str])
    family = registry[root2.type_id]
    assert family.kind == TupleKind((Var("T0"), Var("T1"))) and family.type_params == ("T0", "T1")
    assert root2.args == (prim(PrimitiveType.U8), prim(PrimitiveType.STRING))
    assert schema_for(tuple[bool, bool])[0].type_id == root2.type_id
    assert schema_for(tuple[bool, bool, bool])[0].type_id != root2.type_id


def test_array_family_includes_its_length() -> None:
    three, four = schema_for(fixed_array(U8, 3))[0], schema_for(fixed_array(U8, 4))[0]
    assert three.type_id != four.type_id and three.args == four.args == (prim(PrimitiveType.U8),)


def test_dict_is_the_map_family() -> None:
    root, registry = schema_for(dict[str, U8])
    assert root == Concrete(MAP, (prim(PrimitiveType.STRING), prim(PrimitiveType.U8)))
    assert registry[MAP].type_params == ("K", "V")


def test_optional_spellings_are_the_option_family() -> None:
    expected = Concrete(OPTION, (prim(PrimitiveType.U32),))
    assert schema_for(Optional[U32])[0] == schema_for(U32 | None)[0] == expected  # noqa: UP045


def test_result_is_the_vox_result_enum() -> None:
    root, registry = schema_for(Result[U32, str])
    schema = registry[root.type_id]
    assert schema.type_params == ("T", "E")
    assert schema.kind == EnumKind(
        "Result",
        (VariantSchema("Ok", 0, NewtypePayload(Var("T"))), VariantSchema("Err", 1, NewtypePayload(Var("E")))),
    )
    assert root.args == (prim(PrimitiveType.U32), prim(PrimitiveType.STRING))


@dataclass
class Item:
    name: str
    qty: U32 = 1
    tags: list[str] = field(default_factory=list)


def test_dataclass_is_a_struct_in_declaration_order() -> None:
    root, registry = schema_for(Item)
    kind = registry[root.type_id].kind
    assert kind == StructKind(
        "Item",
        (
            FieldSchema("name", prim(PrimitiveType.STRING), required=True),
            FieldSchema("qty", prim(PrimitiveType.U32), required=False),
            FieldSchema("tags", Concrete(LIST, (prim(PrimitiveType.STRING),)), required=False),
        ),
    )
    assert root.type_id == schema_hash(kind)


class Color(enum.Enum):
    RED = 3
    GREEN = 1
    BLUE = 2
    CRIMSON = 3  # an alias, not a variant


def test_unit_enum_variants_by_declaration_position() -> None:
    root, registry = schema_for(Color)
    assert registry[root.type_id].kind == EnumKind(
        "Color", (VariantSchema("RED", 0), VariantSchema("GREEN", 1), VariantSchema("BLUE", 2))
    )


class Shape(VoxEnum):
    Empty = Variant()
    Circle = Variant(F32)
    Segment = Variant(I32, I32)

    class Rect:
        w: U32
        h: U32 = 1


def test_rich_enum_payload_kinds() -> None:
    root, registry = schema_for(Shape)
    i32 = prim(PrimitiveType.I32)
    u32 = prim(PrimitiveType.U32)
    assert registry[root.type_id].kind == EnumKind(
        "Shape",
        (
            VariantSchema("Empty", 0, UnitPayload()),
            VariantSchema("Circle", 1, NewtypePayload(prim(PrimitiveType.F32))),
            VariantSchema("Segment", 2, TuplePayload((i32, i32))),
            VariantSchema("Rect", 3, StructPayload((FieldSchema("w", u32), FieldSchema("h", u32, required=False)))),
        ),
    )


T = TypeVar("T")
E = TypeVar("E")


@dataclass
class Page(Generic[T]):
    items: list[T]
    cursor: str | None = None


@dataclass
class Boxed(Generic[T]):
    value: T
    note: str


def test_generic_dataclass_has_type_params_and_use_site_args() -> None:
    # vox reads a monomorphised type: a field that is a type argument is Var, anything built from
    # it stays concrete, so Page[U8] and Page[str] are two schemas.
    root, registry = schema_for(Page[U8])
    schema = registry[root.type_id]
    assert schema.type_params == ("T",)
    assert schema.kind.fields[0] == FieldSchema("items", Concrete(LIST, (prim(PrimitiveType.U8),)))
    assert root.args == (prim(PrimitiveType.U8),)
    assert schema_for(Page[str])[0].type_id != root.type_id


def test_generic_field_that_is_the_argument_is_a_var() -> None:
    root, registry = schema_for(Boxed[U8])
    schema = registry[root.type_id]
    assert schema.kind.fields == (
        FieldSchema("value", Var("T")),
        FieldSchema("note", prim(PrimitiveType.STRING)),
    )
    assert schema_for(Boxed[int])[0].type_id == root.type_id  # one schema for every Boxed[X]
    # As in vox, a field whose type equals the argument is a Var even when not declared as T.
    quirk = schema_for(Boxed[str])
    assert quirk[1][quirk[0].type_id].kind.fields[1] == FieldSchema("note", Var("T"))


class Outcome(VoxEnum, Generic[E]):
    User = Variant(E)
    Cancelled = Variant()


def test_generic_rich_enum() -> None:
    root, registry = schema_for(Outcome[str])
    schema = registry[root.type_id]
    assert schema.type_params == ("E",)
    assert schema.kind.variants[0] == VariantSchema("User", 0, NewtypePayload(Var("E")))
    assert root.args == (prim(PrimitiveType.STRING),)


@dataclass
class Renamed:
    __vox_name__ = "HttpReply"
    status: U32


def test_vox_name_overrides_the_class_name() -> None:
    root, registry = schema_for(Renamed)
    assert registry[root.type_id].kind.name == "HttpReply"


# --- recursion ----------------------------------------------------------------------------------


@dataclass
class Node:
    value: int
    next: Optional[Node] = None  # noqa: UP045


@dataclass
class Tree:
    children: list[Tree]
    label: str


@dataclass
class Ping:
    pong: Pong | None


@dataclass
class Pong:
    ping: list[Ping]


class Expr(VoxEnum):
    Lit = Variant(int)
    Add = Variant("Expr", "Expr")
    Neg = Variant(inner="Expr")


@pytest.mark.parametrize("tp", [Node, Tree, Ping, Pong, Expr, list[Tree], dict[str, Node]])
def test_recursive_types_have_complete_closures(tp: Any) -> None:
    closure_ids(tp)


def test_recursive_struct_refers_to_its_own_final_id() -> None:
    root, registry = schema_for(Tree)
    assert registry[root.type_id].kind.fields[0].type_ref == Concrete(LIST, (root,))


def test_mutually_recursive_structs_refer_to_each_other() -> None:
    # Within one registry the two refer to each other's ids; which ids they get depends on the
    # root, as in vox (the extraction order decides the recursive groups).
    for tp in (Ping, Pong):
        _, registry = schema_for(tp)
        by_name = {sc.name: sc for sc in registry.values()}
        ping, pong = by_name["Ping"], by_name["Pong"]
        assert ping.kind.fields[0].type_ref == Concrete(OPTION, (Concrete(pong.id),))
        assert pong.kind.fields[0].type_ref == Concrete(LIST, (Concrete(ping.id),))


def test_recursive_enum_with_string_forward_refs() -> None:
    root, registry = schema_for(Expr)
    add = registry[root.type_id].kind.variants[1]
    assert add.payload == TuplePayload((root, root))


# --- errors and caching -------------------------------------------------------------------------


class NotSupported:
    pass


@pytest.mark.parametrize(
    ("tp", "needle"),
    [
        (Any, "Any"),
        (object, "object"),
        (NotSupported, "NotSupported"),
        (int | str, "union"),
        (list, "list"),
        (dict, "dict"),
        (typing.Literal["a"], "Literal"),
        (Page, "Page[T]"),
        (Result, "Result[T, E]"),
        (Shape.Circle, "annotate with the enum Shape"),
        ("Node", "Node"),
        (Annotated[str, U8.__metadata__[0]], "u8 annotates int"),
    ],
)
def test_unsupported_annotations_are_type_errors_naming_them(tp: Any, needle: str) -> None:
    with pytest.raises(TypeError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        schema_for(tp)


def test_unresolvable_forward_reference_is_a_type_error() -> None:
    @dataclass
    class Broken:
        other: Missing  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(TypeError, match="Missing"):
        schema_for(Broken)


def test_repeated_calls_are_cached_and_registries_are_independent() -> None:
    first_root, first = schema_for(list[Item])
    hits = _build_cached.cache_info().hits
    second_root, second = schema_for(list[Item])
    assert _build_cached.cache_info().hits == hits + 1
    assert first_root == second_root and first == second and first is not second
    assert isinstance(second, SchemaRegistry)
    first.clear()
    assert schema_for(list[Item])[1] == second


def test_unhashable_annotation_metadata_still_works() -> None:
    tp = Annotated[int, ["unhashable"]]
    assert schema_for(tp)[0] == prim(PrimitiveType.I64)


def test_primitive_kind_is_its_tag() -> None:
    assert all(primitive_schema(p).kind == PrimitiveKind(p) for p in PrimitiveType)
