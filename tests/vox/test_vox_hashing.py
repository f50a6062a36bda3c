"""Schema hashes: every vector of tests/vectors/op_store_derived.json, hand-built and through ``schema_for``, plus
the recursive-group algorithm checked against an independent re-computation from raw bytes."""

from __future__ import annotations

import random
from dataclasses import dataclass

import blake3
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
    ArrayKind,
    ChannelDirection,
    ChannelKind,
    Char,
    Concrete,
    EnumKind,
    FieldSchema,
    ListKind,
    MapKind,
    Never,
    NewtypePayload,
    OptionKind,
    Payload,
    PrimitiveKind,
    PrimitiveType,
    Schema,
    StructKind,
    StructPayload,
    TupleKind,
    TuplePayload,
    Unit,
    UnitPayload,
    Var,
    VariantSchema,
    canonical_bytes,
    finalize_content_hashes,
    method_id,
    schema_closure,
    schema_for,
    schema_hash,
)
from op_store.vox.ids import kebab
from tests.vectors import load_vectors

VECTORS = load_vectors()


def h64(data: bytes) -> int:
    """The reference hash, straight from blake3 (not through op_store)."""
    return int.from_bytes(blake3.blake3(data).digest()[:8], "little")


def s(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(4, "little") + data


def u64(n: int) -> bytes:
    return n.to_bytes(8, "little")


def concrete(type_id: int) -> bytes:
    return s("concrete") + u64(type_id)


MARKERS = {
    PrimitiveType.BOOL: bool,
    PrimitiveType.U8: U8,
    PrimitiveType.U16: U16,
    PrimitiveType.U32: U32,
    PrimitiveType.U64: U64,
    PrimitiveType.U128: U128,
    PrimitiveType.I8: I8,
    PrimitiveType.I16: I16,
    PrimitiveType.I32: I32,
    PrimitiveType.I64: I64,
    PrimitiveType.I128: I128,
    PrimitiveType.F32: F32,
    PrimitiveType.F64: F64,
    PrimitiveType.CHAR: Char,
    PrimitiveType.STRING: str,
    PrimitiveType.UNIT: Unit,
    PrimitiveType.NEVER: Never,
    PrimitiveType.BYTES: bytes,
    PrimitiveType.PAYLOAD: Payload,
}


@dataclass
class Point:
    x: I32
    y: I32


I32_ID = schema_hash(PrimitiveKind(PrimitiveType.I32))


def hand_built(key: str) -> Schema:
    """The schema a vector key names, built by hand from the schema model."""
    if key.startswith("primitive:"):
        kind = PrimitiveKind(PrimitiveType(key.removeprefix("primitive:")))
        return Schema(id=schema_hash(kind), kind=kind)
    if key == "family:list<T>":
        kind = ListKind(Var("T"))
        return Schema(id=schema_hash(kind, ("T",)), kind=kind, type_params=("T",))
    if key == "struct Point { x: i32, y: i32 }":
        kind = StructKind("Point", (FieldSchema("x", Concrete(I32_ID)), FieldSchema("y", Concrete(I32_ID))))
        return Schema(id=schema_hash(kind), kind=kind)
    raise AssertionError(f"vector {key!r} has no hand-built schema in this test: add one")


def via_schema_for(key: str) -> int:
    """The id ``schema_for`` gives the type a vector key names."""
    if key.startswith("primitive:"):
        root, _ = schema_for(MARKERS[PrimitiveType(key.removeprefix("primitive:"))])
        return root.type_id
    if key == "family:list<T>":
        root, registry = schema_for(list[U32])
        assert registry[root.type_id].kind == ListKind(Var("T"))
        assert registry[root.type_id].type_params == ("T",)
        return root.type_id
    if key == "struct Point { x: i32, y: i32 }":
        return schema_for(Point)[0].type_id
    raise AssertionError(f"vector {key!r} has no Python annotation in this test: add one")


@pytest.mark.parametrize("key", sorted(VECTORS["schema_hash"]))
def test_schema_hash_vector_hand_built(key: str) -> None:
    assert hand_built(key).id == int(VECTORS["schema_hash"][key], 16)


@pytest.mark.parametrize("key", sorted(VECTORS["schema_hash"]))
def test_schema_hash_vector_through_schema_for(key: str) -> None:
    assert via_schema_for(key) == int(VECTORS["schema_hash"][key], 16)


def test_every_primitive_has_a_vector() -> None:
    assert {f"primitive:{p.value}" for p in PrimitiveType} <= set(VECTORS["schema_hash"])


def test_point_canonical_bytes_match_the_design_document() -> None:
    expected = bytes.fromhex(
        "06000000" + b"struct".hex() + "05000000" + b"Point".hex() + "00000000"
        "01000000" + b"x".hex() + "08000000" + b"concrete".hex() + "91f9e9ee36451f36"
        "01000000" + b"y".hex() + "08000000" + b"concrete".hex() + "91f9e9ee36451f36"
    )
    kind = StructKind("Point", (FieldSchema("x", Concrete(I32_ID)), FieldSchema("y", Concrete(I32_ID))))
    assert canonical_bytes(kind) == expected
    assert h64(expected) == 0xB92332C67187108F


@pytest.mark.parametrize("key", sorted(VECTORS["method_id"]))
def test_method_id_vector(key: str) -> None:
    service, method = key.split(".")
    assert method_id(service, method) == int(VECTORS["method_id"][key], 16)


@pytest.mark.parametrize("spelling", ["MyService", "my_service", "my-service", "MY_SERVICE", "myService"])
def test_method_id_kebab_equivalence(spelling: str) -> None:
    assert kebab(spelling) == "my-service"
    assert method_id(spelling, "DoThing") == method_id("my-service", "do-thing") == h64(b"my-service.do-thing")


def test_method_ids_differ_by_service_and_method() -> None:
    assert method_id("adder", "add") != method_id("adder", "sub") != method_id("subber", "sub")


# --- canonical stream per kind, against raw bytes ----------------------------------------------


def test_required_is_not_hashed() -> None:
    a = StructKind("P", (FieldSchema("x", Concrete(I32_ID), required=True),))
    b = StructKind("P", (FieldSchema("x", Concrete(I32_ID), required=False),))
    assert schema_hash(a) == schema_hash(b)


def test_struct_and_enum_feed_type_params_containers_do_not() -> None:
    kind = StructKind("Box", (FieldSchema("v", Var("T")),))
    assert canonical_bytes(kind, ("T",)) == s("struct") + s("Box") + (1).to_bytes(4, "little") + s("T") + s("v") + s(
        "var"
    ) + s("T")
    assert (
        canonical_bytes(ListKind(Var("T")), ("T",))
        == canonical_bytes(ListKind(Var("T")), ())
        == s("list") + s("var") + s("T")
    )


def test_enum_canonical_bytes() -> None:
    kind = EnumKind(
        "E",
        (
            VariantSchema("A", 0, UnitPayload()),
            VariantSchema("B", 1, NewtypePayload(Concrete(7))),
            VariantSchema("C", 2, TuplePayload((Concrete(7), Var("T")))),
            VariantSchema("D", 3, StructPayload((FieldSchema("f", Concrete(9)),))),
        ),
    )
    u32 = lambda n: n.to_bytes(4, "little")  # noqa: E731
    expected = (
        s("enum")
        + s("E")
        + u32(1)
        + s("T")
        + s("A")
        + u32(0)
        + s("unit")
        + s("B")
        + u32(1)
        + s("newtype")
        + concrete(7)
        + s("C")
        + u32(2)
        + s("tuple")
        + concrete(7)
        + s("var")
        + s("T")
        + s("D")
        + u32(3)
        + s("struct")
        + s("f")
        + concrete(9)
    )
    assert canonical_bytes(kind, ("T",)) == expected


def test_container_canonical_bytes() -> None:
    args = s("args") + concrete(5) + concrete(6)
    assert canonical_bytes(TupleKind((Concrete(1, (Concrete(5), Concrete(6))),))) == s("tuple") + concrete(1) + args
    assert canonical_bytes(MapKind(Var("K"), Var("V"))) == s("map") + s("var") + s("K") + s("var") + s("V")
    assert canonical_bytes(ArrayKind(Var("T"), 3)) == s("array") + s("var") + s("T") + u64(3)
    assert canonical_bytes(OptionKind(Concrete(2))) == s("option") + concrete(2)
    assert canonical_bytes(ChannelKind(ChannelDirection.TX, Concrete(2))) == s("channel") + s("send") + concrete(2)
    assert canonical_bytes(ChannelKind(ChannelDirection.RX, Concrete(2))) == s("channel") + s("recv") + concrete(2)


# --- recursive groups --------------------------------------------------------------------------

OPTION_ID = h64(s("option") + s("var") + s("T"))
LIST_ID = h64(s("list") + s("var") + s("T"))
I64_ID = h64(s("i64"))


@dataclass
class Node:
    value: int
    next: Node | None = None


@dataclass
class Tree:
    children: list[Tree]


@dataclass
class Alpha:
    beta: Beta | None


@dataclass
class Beta:
    alpha: Alpha | None
    n: int


def expected_group(prelims: list[int]) -> list[int]:
    """Final ids in sorted-preliminary order, computed from raw bytes."""
    ordered = sorted(prelims)
    group = h64(b"".join(u64(p) for p in ordered))
    return [h64(u64(group) + u64(i)) for i in range(len(ordered))]


def test_self_recursion_via_option_matches_raw_computation() -> None:
    prelim = h64(
        s("struct")
        + s("Node")
        + (0).to_bytes(4, "little")
        + s("value")
        + concrete(I64_ID)
        + s("next")
        + concrete(OPTION_ID)
        + s("args")
        + concrete(0)
    )
    (expected,) = expected_group([prelim])
    root, registry = schema_for(Node)
    assert root == Concrete(expected)
    # The stored schema refers to its own final id, so a closure walk terminates and is complete.
    field = registry[expected].kind.fields[1]
    assert field.type_ref == Concrete(OPTION_ID, (Concrete(expected),))
    assert {sc.id for sc in schema_closure(root, registry)} == set(registry) == {expected, OPTION_ID, I64_ID}


def test_self_recursion_via_list_matches_raw_computation() -> None:
    prelim = h64(
        s("struct")
        + s("Tree")
        + (0).to_bytes(4, "little")
        + s("children")
        + concrete(LIST_ID)
        + s("args")
        + concrete(0)
    )
    assert schema_for(Tree)[0] == Concrete(expected_group([prelim])[0])


def mutual_prelims() -> tuple[int, int]:
    alpha = h64(
        s("struct") + s("Alpha") + (0).to_bytes(4, "little") + s("beta") + concrete(OPTION_ID) + s("args") + concrete(0)
    )
    beta = h64(
        s("struct")
        + s("Beta")
        + (0).to_bytes(4, "little")
        + s("alpha")
        + concrete(OPTION_ID)
        + s("args")
        + concrete(0)
        + s("n")
        + concrete(I64_ID)
    )
    return alpha, beta


def test_mutual_recursion_matches_raw_computation() -> None:
    # From Alpha, vox emits [option, i64, Beta, Alpha]: Beta refers forward to Alpha, so the two
    # are adjacent recursive schemas and form one group.
    alpha, beta = mutual_prelims()
    finals = dict(zip(sorted([alpha, beta]), expected_group([alpha, beta]), strict=True))
    root_a, registry = schema_for(Alpha)
    assert root_a.type_id == finals[alpha]
    assert [sc.name for sc in registry.values()] == ["option", "i64", "Beta", "Alpha"]
    (beta_id,) = [sid for sid, sc in registry.items() if sc.name == "Beta"]
    assert beta_id == finals[beta]


def test_mutual_recursion_ids_depend_on_the_root_as_in_vox() -> None:
    # From Beta, vox emits [option, Alpha, i64, Beta]: i64 separates the two recursive schemas, so
    # each is its own group, and Beta's preliminary hash sees Alpha's final id instead of 0.
    alpha_prelim, _ = mutual_prelims()
    (alpha_id,) = expected_group([alpha_prelim])
    beta_prelim = h64(
        s("struct")
        + s("Beta")
        + (0).to_bytes(4, "little")
        + s("alpha")
        + concrete(OPTION_ID)
        + s("args")
        + concrete(alpha_id)
        + s("n")
        + concrete(I64_ID)
    )
    (beta_id,) = expected_group([beta_prelim])
    root_b, registry = schema_for(Beta)
    assert root_b.type_id == beta_id
    assert [sc.name for sc in registry.values()] == ["option", "Alpha", "i64", "Beta"]
    assert registry[beta_id].kind.fields[0].type_ref == Concrete(OPTION_ID, (Concrete(alpha_id),))
    assert beta_id not in schema_for(Alpha)[1]  # seen from Alpha, Beta has another id


def _alpha_beta_provisional() -> dict[str, Schema]:
    return {
        "alpha": Schema(id=101, kind=StructKind("Alpha", (FieldSchema("beta", Concrete(103, (Concrete(102),))),))),
        "beta": Schema(
            id=102,
            kind=StructKind(
                "Beta",
                (FieldSchema("alpha", Concrete(103, (Concrete(101),))), FieldSchema("n", Concrete(104))),
            ),
        ),
        "option": Schema(id=103, kind=OptionKind(Var("T")), type_params=("T",)),
        "i64": Schema(id=104, kind=PrimitiveKind(PrimitiveType.I64)),
    }


def test_finalize_hashes_hand_built_schemas_in_the_order_given() -> None:
    # A hand-built list is hashed in its own order, as vox hashes its extraction order: the same
    # order as schema_for gives the same ids, another order may not.
    by_name = _alpha_beta_provisional()

    def finalize(order: list[str]) -> tuple[int, int]:
        id_map, _ = finalize_content_hashes([by_name[n] for n in order])
        return id_map[101], id_map[102]

    from_alpha = (schema_for(Alpha)[0].type_id, next(k for k, v in schema_for(Alpha)[1].items() if v.name == "Beta"))
    from_beta = (next(k for k, v in schema_for(Beta)[1].items() if v.name == "Alpha"), schema_for(Beta)[0].type_id)
    assert finalize(["option", "i64", "beta", "alpha"]) == from_alpha
    assert finalize(["option", "alpha", "i64", "beta"]) == from_beta
    assert from_alpha != from_beta
    rng = random.Random(7)
    names = list(by_name)
    results = set()
    for _ in range(24):
        rng.shuffle(names)
        results.add(finalize(names))
    assert len(results) > 1  # the order is part of the input, exactly as in vox


def test_recursive_hashing_is_deterministic_and_distinct() -> None:
    @dataclass
    class Node:  # same name and shape as the module-level Node: same content, same id
        value: int
        next: Node | None = None

    @dataclass
    class Other:
        value: int
        next: Other | None = None

    assert schema_for(Node)[0] == schema_for(globals()["Node"])[0]
    assert schema_for(Other)[0] != schema_for(Node)[0]


@dataclass
class Holder:
    node: Node
    alpha: Alpha
    tree: Tree


def test_adjacent_cycles_share_a_group_and_dependants_hash_zero() -> None:
    # vox emits [i64, option, Node, Beta, Alpha, list, Tree, Holder]. Node, Beta and Alpha are
    # adjacent recursive schemas, so vox hashes them as one group; Tree is its own group (list sits
    # between). Holder is not recursive: it is hashed before the groups, with 0 for each of them.
    root, registry = schema_for(Holder)
    assert [sc.name for sc in registry.values()] == ["i64", "option", "Node", "Beta", "Alpha", "list", "Tree", "Holder"]
    node_prelim = h64(
        s("struct")
        + s("Node")
        + (0).to_bytes(4, "little")
        + s("value")
        + concrete(I64_ID)
        + s("next")
        + concrete(OPTION_ID)
        + s("args")
        + concrete(0)
    )
    alpha_prelim, beta_prelim = mutual_prelims()
    finals = dict(
        zip(
            sorted([node_prelim, beta_prelim, alpha_prelim]),
            expected_group([node_prelim, beta_prelim, alpha_prelim]),
            strict=True,
        )
    )
    holder = h64(
        s("struct")
        + s("Holder")
        + (0).to_bytes(4, "little")
        + s("node")
        + concrete(0)
        + s("alpha")
        + concrete(0)
        + s("tree")
        + concrete(0)
    )
    assert root == Concrete(holder)
    fields = {f.name: f.type_ref for f in registry[root.type_id].kind.fields}
    assert fields["node"] == Concrete(finals[node_prelim]) != schema_for(Node)[0]
    assert fields["alpha"] == Concrete(finals[alpha_prelim]) != schema_for(Alpha)[0]
    assert fields["tree"] == schema_for(Tree)[0]
    assert root.type_id != schema_hash(registry[root.type_id].kind)  # the stored kind has the final ids


def test_finalize_passes_external_ids_through_and_dedups() -> None:
    kind = StructKind("P", (FieldSchema("x", Concrete(I32_ID)),))
    id_map, schemas = finalize_content_hashes([Schema(id=1, kind=kind), Schema(id=2, kind=kind)])
    assert id_map[1] == id_map[2] == schema_hash(kind)
    assert schemas == [Schema(id=schema_hash(kind), kind=kind)]


def test_finalize_keeps_input_order_when_dependencies_come_first() -> None:
    u8 = Schema(id=3, kind=PrimitiveKind(PrimitiveType.U8))
    inner = Schema(id=2, kind=StructKind("Inner", (FieldSchema("x", Concrete(3)),)))
    outer = Schema(id=1, kind=StructKind("Outer", (FieldSchema("inner", Concrete(2)),)))
    id_map, schemas = finalize_content_hashes([u8, inner, outer])
    assert [sc.name for sc in schemas] == ["u8", "Inner", "Outer"]
    inner_id = h64(s("struct") + s("Inner") + (0).to_bytes(4, "little") + s("x") + concrete(id_map[3]))
    assert id_map[3] == h64(s("u8"))
    assert id_map[2] == inner_id
    assert id_map[1] == h64(s("struct") + s("Outer") + (0).to_bytes(4, "little") + s("inner") + concrete(inner_id))


def test_finalize_treats_a_forward_reference_as_recursion() -> None:
    # Dependants first: every schema refers to a later one, so vox marks all three recursive and
    # hashes them as one group, with the id 0 for references inside it.
    u8 = Schema(id=3, kind=PrimitiveKind(PrimitiveType.U8))
    inner = Schema(id=2, kind=StructKind("Inner", (FieldSchema("x", Concrete(3)),)))
    outer = Schema(id=1, kind=StructKind("Outer", (FieldSchema("inner", Concrete(2)),)))
    id_map, schemas = finalize_content_hashes([outer, inner, u8])
    prelims = {
        1: h64(s("struct") + s("Outer") + (0).to_bytes(4, "little") + s("inner") + concrete(0)),
        2: h64(s("struct") + s("Inner") + (0).to_bytes(4, "little") + s("x") + concrete(0)),
        3: h64(s("u8")),
    }
    finals = dict(zip(sorted(prelims.values()), expected_group(list(prelims.values())), strict=True))
    assert id_map == {tid: finals[p] for tid, p in prelims.items()}
    assert [sc.name for sc in schemas] == ["Outer", "Inner", "u8"]


def test_finalize_refuses_conflicting_temporary_ids() -> None:
    with pytest.raises(ValueError, match="temporary id"):
        finalize_content_hashes(
            [Schema(id=1, kind=PrimitiveKind(PrimitiveType.U8)), Schema(id=1, kind=PrimitiveKind(PrimitiveType.U16))]
        )
