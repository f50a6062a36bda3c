"""vox SchemaHash: BLAKE3 over a canonical byte stream, and the recursive-group algorithm.

The stream (vox-schema's ``SchemaHasher``; ``docs/vox-compatibility.md``): strings are a u32 LE byte length then UTF-8;
u32/u64 are fixed-width LE; a ``Concrete`` ref is "concrete", the child's id as u64 LE and, only when
it has args, "args" then each arg; a ``Var`` is "var" then its name. Struct and Enum feed their type
parameters; containers and tuples do not. ``required`` is never hashed.

A schema can only be hashed once every schema it references has its final id. Schemas that reach
themselves (recursive types) cannot wait for that, so they are hashed as a *group*: each member's
preliminary hash replaces in-group references by the id 0, the group hash is BLAKE3 of the sorted
preliminary hashes, and member ``i`` (in sorted order) gets ``BLAKE3(group || i)``.

:func:`finalize_content_hashes` is a port of vox's own (``rust/vox-types/src/schema.rs``): which
schemas count as recursive, which form a group, and the id 0 hashed for a reference to a schema
not hashed yet all follow vox's extraction order, quirks included, so ids match what Rust computes.
``docs/vox-compatibility.md`` has the rules and the sources they were checked against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from .ids import hash64
from .schema import (
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
    PrimitiveKind,
    PrimitiveType,
    Schema,
    SchemaKind,
    StructKind,
    StructPayload,
    TupleKind,
    TuplePayload,
    TypeRef,
    UnitPayload,
    Var,
    VariantPayload,
    VariantSchema,
    schema_child_ids,
)

IdMap = Callable[[int], int]


def _identity(type_id: int) -> int:
    return type_id


class _Stream:
    __slots__ = ("buf", "ids")

    def __init__(self, ids: IdMap) -> None:
        self.buf = bytearray()
        self.ids = ids

    def string(self, s: str) -> None:
        data = s.encode("utf-8")
        self.buf += len(data).to_bytes(4, "little")
        self.buf += data

    def u32(self, n: int) -> None:
        self.buf += n.to_bytes(4, "little")

    def u64(self, n: int) -> None:
        self.buf += n.to_bytes(8, "little")

    def ref(self, ref: TypeRef) -> None:
        if isinstance(ref, Concrete):
            self.string("concrete")
            self.u64(self.ids(ref.type_id))
            if ref.args:
                self.string("args")
                for arg in ref.args:
                    self.ref(arg)
        elif isinstance(ref, Var):
            self.string("var")
            self.string(ref.name)
        else:
            raise TypeError(f"not a TypeRef: {ref!r}")

    def fields(self, fields: Iterable[FieldSchema]) -> None:
        for f in fields:
            self.string(f.name)
            self.ref(f.type_ref)

    def params(self, type_params: tuple[str, ...]) -> None:
        self.u32(len(type_params))
        for p in type_params:
            self.string(p)

    def kind(self, kind: SchemaKind, type_params: tuple[str, ...]) -> None:
        if isinstance(kind, PrimitiveKind):
            self.string(kind.primitive_type.value)
        elif isinstance(kind, StructKind):
            self.string("struct")
            self.string(kind.name)
            self.params(type_params)
            self.fields(kind.fields)
        elif isinstance(kind, EnumKind):
            self.string("enum")
            self.string(kind.name)
            self.params(type_params)
            for v in kind.variants:
                self.string(v.name)
                self.u32(v.index)
                p = v.payload
                self.string(p.tag)
                if isinstance(p, NewtypePayload):
                    self.ref(p.type_ref)
                elif isinstance(p, TuplePayload):
                    for t in p.types:
                        self.ref(t)
                elif isinstance(p, StructPayload):
                    self.fields(p.fields)
        elif isinstance(kind, TupleKind):
            self.string("tuple")
            for e in kind.elements:
                self.ref(e)
        elif isinstance(kind, ListKind):
            self.string("list")
            self.ref(kind.element)
        elif isinstance(kind, MapKind):
            self.string("map")
            self.ref(kind.key)
            self.ref(kind.value)
        elif isinstance(kind, ArrayKind):
            self.string("array")
            self.ref(kind.element)
            self.u64(kind.length)
        elif isinstance(kind, OptionKind):
            self.string("option")
            self.ref(kind.element)
        elif isinstance(kind, ChannelKind):
            self.string("channel")
            self.string("send" if kind.direction is ChannelDirection.TX else "recv")
            self.ref(kind.element)
        else:
            raise TypeError(f"not a schema kind: {kind!r}")


def canonical_bytes(kind: SchemaKind, type_params: Iterable[str] = (), *, ids: IdMap = _identity) -> bytes:
    """The canonical byte stream of a schema; ``ids`` maps each referenced id to the id to hash."""
    stream = _Stream(ids)
    stream.kind(kind, tuple(type_params))
    return bytes(stream.buf)


def schema_hash(kind: SchemaKind, type_params: Iterable[str] = ()) -> int:
    """The SchemaHash of a non-recursive schema whose references are all final ids."""
    return hash64(canonical_bytes(kind, type_params))


def primitive_schema(primitive: PrimitiveType) -> Schema:
    """The (fixed) schema of a vox primitive."""
    return _PRIMITIVES[primitive]


_PRIMITIVES = {p: Schema(id=schema_hash(PrimitiveKind(p)), kind=PrimitiveKind(p)) for p in PrimitiveType}


# --- rewriting references ----------------------------------------------------------------------


def rewrite_type_ref(ref: TypeRef, id_map: Mapping[int, int]) -> TypeRef:
    """``ref`` with every concrete id found in ``id_map`` replaced (args too); others kept."""
    if isinstance(ref, Concrete):
        new_id = id_map.get(ref.type_id, ref.type_id)
        if not ref.args:
            return ref if new_id == ref.type_id else Concrete(new_id)
        return Concrete(new_id, tuple(rewrite_type_ref(a, id_map) for a in ref.args))
    return ref


def _rewrite_fields(fields: tuple[FieldSchema, ...], id_map: Mapping[int, int]) -> tuple[FieldSchema, ...]:
    return tuple(FieldSchema(f.name, rewrite_type_ref(f.type_ref, id_map), f.required) for f in fields)


def _rewrite_payload(p: VariantPayload, id_map: Mapping[int, int]) -> VariantPayload:
    if isinstance(p, NewtypePayload):
        return NewtypePayload(rewrite_type_ref(p.type_ref, id_map))
    if isinstance(p, TuplePayload):
        return TuplePayload(tuple(rewrite_type_ref(t, id_map) for t in p.types))
    if isinstance(p, StructPayload):
        return StructPayload(_rewrite_fields(p.fields, id_map))
    return UnitPayload()


def rewrite_kind(kind: SchemaKind, id_map: Mapping[int, int]) -> SchemaKind:
    """``kind`` with every reference rewritten through ``id_map``."""
    r = rewrite_type_ref
    if isinstance(kind, StructKind):
        return StructKind(kind.name, _rewrite_fields(kind.fields, id_map))
    if isinstance(kind, EnumKind):
        return EnumKind(
            kind.name,
            tuple(VariantSchema(v.name, v.index, _rewrite_payload(v.payload, id_map)) for v in kind.variants),
        )
    if isinstance(kind, TupleKind):
        return TupleKind(tuple(r(e, id_map) for e in kind.elements))
    if isinstance(kind, ListKind):
        return ListKind(r(kind.element, id_map))
    if isinstance(kind, MapKind):
        return MapKind(r(kind.key, id_map), r(kind.value, id_map))
    if isinstance(kind, ArrayKind):
        return ArrayKind(r(kind.element, id_map), kind.length)
    if isinstance(kind, OptionKind):
        return OptionKind(r(kind.element, id_map))
    if isinstance(kind, ChannelKind):
        return ChannelKind(kind.direction, r(kind.element, id_map))
    return kind


# --- finalizing provisional schemas ------------------------------------------------------------


def _recursive_marks(order: list[int], refs: Mapping[int, list[int]]) -> list[bool]:
    """vox's recursion test: a schema referring to one at its own position or later marks both."""
    position = {tid: i for i, tid in enumerate(order)}
    marked = [False] * len(order)
    for i, tid in enumerate(order):
        for child in refs[tid]:
            j = position.get(child)
            if j is not None and j >= i:
                marked[i] = marked[j] = True
    return marked


def finalize_content_hashes(provisional: Iterable[Schema]) -> tuple[dict[int, int], list[Schema]]:
    """Give provisional schemas their content hashes, exactly as vox's ``finalize_content_hashes``.

    ``provisional`` schemas have temporary ids, and their references use those temporary ids; any
    referenced id that is not one of them is taken as an already-final schema id. The schemas are
    hashed in the order given, which must be vox's extraction order (dependencies before dependants,
    as :func:`~.extract.schema_for` emits them); ``docs/vox-compatibility.md`` spells the rules out:

    1. a schema that refers to a schema at its own position or later is *recursive*, and so is the
       schema it refers to;
    2. every other schema is hashed first, in order; a reference to a schema that has no final id
       yet (a recursive one) is hashed as the id 0;
    3. each maximal run of adjacent recursive schemas is one group: preliminary hashes with in-group
       references as 0, sorted; the group hash over them; member ``i`` gets ``BLAKE3(group || i)``.

    Returns the map from temporary to final ids and the final schemas (references rewritten) in the
    input order, keeping the first schema of each final id.
    """
    schemas: dict[int, Schema] = {}
    for s in provisional:
        if s.id in schemas and schemas[s.id] != s:
            raise ValueError(f"two different provisional schemas share the temporary id {s.id}")
        schemas[s.id] = s
    order = list(schemas)
    refs = {tid: schema_child_ids(s.kind) for tid, s in schemas.items()}
    marked = _recursive_marks(order, refs)
    final: dict[int, int] = {}

    def hash_with(tid: int, ids: IdMap) -> int:
        s = schemas[tid]
        return hash64(canonical_bytes(s.kind, s.type_params, ids=ids))

    def known(type_id: int) -> int:
        return final.get(type_id, 0) if type_id in schemas else type_id

    for i, tid in enumerate(order):
        if not marked[i]:
            final[tid] = hash_with(tid, known)

    i = 0
    while i < len(order):
        if not marked[i]:
            i += 1
            continue
        start = i
        while i < len(order) and marked[i]:
            i += 1
        members = order[start:i]
        group_ids = set(members)

        def preliminary(type_id: int, group_ids: set[int] = group_ids) -> int:
            return 0 if type_id in group_ids else known(type_id)

        prelim = [(hash_with(m, preliminary), m) for m in members]
        prelim.sort(key=lambda pair: pair[0])  # stable, like Rust's sort_by_key
        group = hash64(b"".join(h.to_bytes(8, "little") for h, _ in prelim))
        for rank, (_, m) in enumerate(prelim):
            final[m] = hash64(group.to_bytes(8, "little") + rank.to_bytes(8, "little"))

    out: dict[int, Schema] = {}
    for tid in order:
        s = schemas[tid]
        fid = final[tid]
        if fid not in out:
            out[fid] = Schema(id=fid, kind=rewrite_kind(s.kind, final), type_params=s.type_params)
    return final, list(out.values())
