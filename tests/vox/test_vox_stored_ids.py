"""Operations sealed before schema ids followed vox's extraction order still read back.

op_store once grouped recursive schemas by strongly connected component, which gave types that
*contain* a recursive type other ids than vox gives them. Rows sealed then keep their root type and
closure under those old ids; the store and ``op_store.display`` look schemas up by the stored ids,
so those rows decode as before. The old ids below were computed by the earlier code and are kept
here verbatim (``docs/vox-compatibility.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from op_store.display import decode_response
from op_store.store import DjangoOperationStore, OperationState
from op_store.vox import Schema, SchemaRegistry, TypeRef, encode, schema_for


@dataclass
class Tree:
    value: int
    children: list[Tree]


@dataclass
class Forest:
    name: str
    trees: list[Tree]


# schema_for(Forest) before the change: Forest was hashed after Tree had its final id.
OLD_ROOT = {"tag": "concrete", "type_id": "8fe8972b27a6fb7f"}
OLD_CLOSURE = [
    {
        "id": "8fe8972b27a6fb7f",
        "type_params": [],
        "kind": {
            "tag": "struct",
            "name": "Forest",
            "fields": [
                {"name": "name", "type_ref": {"tag": "concrete", "type_id": "6d7dce914ee150e8"}, "required": True},
                {
                    "name": "trees",
                    "type_ref": {
                        "tag": "concrete",
                        "type_id": "0a96b404b4d79d67",
                        "args": [{"tag": "concrete", "type_id": "6e80d2ab1e76330f"}],
                    },
                    "required": True,
                },
            ],
        },
    },
    {
        "id": "6e80d2ab1e76330f",
        "type_params": [],
        "kind": {
            "tag": "struct",
            "name": "Tree",
            "fields": [
                {"name": "value", "type_ref": {"tag": "concrete", "type_id": "c6eb8c46f1e17fba"}, "required": True},
                {
                    "name": "children",
                    "type_ref": {
                        "tag": "concrete",
                        "type_id": "0a96b404b4d79d67",
                        "args": [{"tag": "concrete", "type_id": "6e80d2ab1e76330f"}],
                    },
                    "required": True,
                },
            ],
        },
    },
    {"id": "0a96b404b4d79d67", "type_params": ["T"], "kind": {"tag": "list", "element": {"tag": "var", "name": "T"}}},
    {"id": "c6eb8c46f1e17fba", "type_params": [], "kind": {"tag": "primitive", "primitive_type": "i64"}},
    {"id": "6d7dce914ee150e8", "type_params": [], "kind": {"tag": "primitive", "primitive_type": "string"}},
]


def test_the_old_root_is_not_what_schema_for_gives_now() -> None:
    assert schema_for(Forest)[0] != TypeRef.from_json(OLD_ROOT)
    assert Schema.from_json(OLD_CLOSURE[0]).name == "Forest"


@pytest.mark.django_db
def test_a_row_sealed_under_old_ids_reads_back_through_the_store_and_display() -> None:
    store = DjangoOperationStore()
    old_root = TypeRef.from_json(OLD_ROOT)
    old_registry = SchemaRegistry(Schema.from_json(s) for s in OLD_CLOSURE)
    value = Forest("north", [Tree(1, [Tree(2, [])]), Tree(3, [])])
    data = encode(value, Forest)  # the bytes do not depend on schema ids
    store.admit(7001)
    store.seal(7001, data, old_root, old_registry)

    # A new seal of the same type stores the new ids next to the old ones.
    new_root, new_registry = schema_for(Forest)
    store.admit(7002)
    store.seal(7002, data, new_root, new_registry)

    assert store.lookup(7001) is OperationState.SEALED
    sealed = store.get_sealed(7001)
    assert sealed is not None
    assert sealed.root_type == old_root
    assert sealed.response == data
    source = store.schema_source()
    assert {s.id for s in old_registry.values()} <= {
        s.id for s in (source.get_schema(i) for i in old_registry) if s is not None
    }

    expected = {
        "name": "north",
        "trees": [{"value": 1, "children": [{"value": 2, "children": []}]}, {"value": 3, "children": []}],
    }
    old = decode_response(sealed.response, sealed.root_type.to_json(), source)
    assert old.ok, old.error
    assert old.value == expected
    assert old.type_name == "Forest"
    assert {entry.schema_id for entry in old.closure} == set(old_registry)

    new_sealed = store.get_sealed(7002)
    assert new_sealed is not None
    new = decode_response(new_sealed.response, new_sealed.root_type.to_json(), source)
    assert new.ok and new.value == expected
    assert new_sealed.root_type.type_id != sealed.root_type.type_id
