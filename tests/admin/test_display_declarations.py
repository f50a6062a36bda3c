"""Rust-like type names and declarations (op_store.display) over hand-built schemas."""

from __future__ import annotations

from op_store.display import declaration, schema_summary, type_name
from op_store.vox.hashing import primitive_schema, schema_hash
from op_store.vox.schema import (
    ArrayKind,
    ChannelDirection,
    ChannelKind,
    Concrete,
    EnumKind,
    FieldSchema,
    ListKind,
    MapKind,
    NewtypePayload,
    OptionKind,
    PrimitiveType,
    Schema,
    SchemaRegistry,
    StructKind,
    StructPayload,
    TupleKind,
    TuplePayload,
    UnitPayload,
    Var,
    VariantSchema,
)

I32 = primitive_schema(PrimitiveType.I32)
STRING = primitive_schema(PrimitiveType.STRING)
U8 = primitive_schema(PrimitiveType.U8)


def _schema(kind, params=()):
    return Schema(schema_hash(kind, params), kind, tuple(params))


POINT = _schema(StructKind("Point", (FieldSchema("x", Concrete(I32.id)), FieldSchema("y", Concrete(I32.id)))))
LIST = _schema(ListKind(Var("T")), ["T"])
OPTION = _schema(OptionKind(Var("T")), ["T"])
MAP = _schema(MapKind(Var("K"), Var("V")), ["K", "V"])
PAIR = _schema(TupleKind((Var("T0"), Var("T1"))), ["T0", "T1"])
ARRAY = _schema(ArrayKind(Var("T"), 4), ["T"])
RESULT = _schema(
    EnumKind(
        "Result", (VariantSchema("Ok", 0, NewtypePayload(Var("T"))), VariantSchema("Err", 1, NewtypePayload(Var("E"))))
    ),
    ["T", "E"],
)
REG = SchemaRegistry([I32, STRING, U8, POINT, LIST, OPTION, MAP, PAIR, ARRAY, RESULT])


def test_point_matches_the_design_example():
    assert POINT.id == 0xB92332C67187108F
    assert declaration(POINT, REG) == "struct Point { x: i32, y: i32 }"
    assert schema_summary(POINT) == "struct Point"


def test_generic_enum_declaration():
    assert declaration(RESULT, REG) == "enum Result<T, E> { Ok(T), Err(E) }"
    assert schema_summary(RESULT) == "enum Result<T, E>"


def test_container_families_show_as_their_generic_type():
    assert declaration(LIST, REG) == "Vec<T>"
    assert declaration(OPTION, REG) == "Option<T>"
    assert declaration(MAP, REG) == "HashMap<K, V>"
    assert declaration(PAIR, REG) == "(T0, T1)"
    assert declaration(ARRAY, REG) == "[T; 4]"
    assert declaration(I32, REG) == "i32"
    assert declaration(STRING, REG) == "String"


def test_type_names_substitute_generic_arguments():
    vec_point = Concrete(LIST.id, (Concrete(POINT.id),))
    ref = Concrete(
        RESULT.id, (vec_point, Concrete(MAP.id, (Concrete(STRING.id), Concrete(OPTION.id, (Concrete(I32.id),)))))
    )
    assert type_name(ref, REG) == "Result<Vec<Point>, HashMap<String, Option<i32>>>"
    assert type_name(Concrete(PAIR.id, (Concrete(I32.id), Concrete(U8.id))), REG) == "(i32, u8)"
    assert type_name(Concrete(ARRAY.id, (Concrete(U8.id),)), REG) == "[u8; 4]"


def test_a_missing_schema_is_named_by_its_hash():
    ref = Concrete(LIST.id, (Concrete(0x1234),))
    assert type_name(ref, REG) == "Vec<#0000000000001234>"


def test_enum_with_every_payload_kind_and_a_long_struct_goes_multiline():
    shape = _schema(
        EnumKind(
            "Shape",
            (
                VariantSchema("Empty", 0, UnitPayload()),
                VariantSchema("Circle", 1, NewtypePayload(Concrete(I32.id))),
                VariantSchema("Segment", 2, TuplePayload((Concrete(I32.id), Concrete(I32.id)))),
                VariantSchema(
                    "Point", 3, StructPayload((FieldSchema("x", Concrete(I32.id)), FieldSchema("y", Concrete(I32.id))))
                ),
            ),
        )
    )
    text = declaration(shape, SchemaRegistry([I32, shape]))
    assert text == (
        "enum Shape {\n    Empty,\n    Circle(i32),\n    Segment(i32, i32),\n    Point { x: i32, y: i32 },\n}"
    )
    sparse = _schema(EnumKind("Sparse", (VariantSchema("A", 0), VariantSchema("B", 5))))
    assert declaration(sparse, REG) == "enum Sparse { A, B = 5 }"


def test_optional_fields_channels_and_generic_structs():
    boxed = _schema(
        StructKind("Boxed", (FieldSchema("value", Var("T")), FieldSchema("note", Concrete(STRING.id), False))), ["T"]
    )
    assert declaration(boxed, REG) == "struct Boxed<T> { value: T, #[default] note: String }"
    tx = _schema(ChannelKind(ChannelDirection.TX, Var("T")), ["T"])
    assert declaration(tx, REG) == "Tx<T>"
    assert type_name(Concrete(boxed.id, (Concrete(I32.id),)), SchemaRegistry([boxed, I32])) == "Boxed<i32>"


def test_the_schema_document_needs_no_django():
    """An RPC site or a plain client can build the schema document without settings."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys\n"
        "from op_store.schema_json import schema_document\n"
        "from op_store.vox import I32, schema_for\n"
        "root, registry = schema_for(list[I32])\n"
        "doc = schema_document(registry[root.type_id], registry)\n"
        "assert doc['declaration'] == 'Vec<T>', doc\n"
        "assert not [m for m in sys.modules if m == 'django' or m.startswith('django.')]\n"
        "print('ok')\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(root)
    done = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
