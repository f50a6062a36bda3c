"""vox SchemaHash: BLAKE3 over a canonical byte stream, and the recursive-group algorithm.

The stream (DESIGN §3, vox-schema's ``SchemaHasher``): strings are a u32 LE byte length then UTF-8;
u32/u64 are fixed-width LE; a ``Concrete`` ref is "concrete", the child's id as u64 LE and, only when
it has args, "args" then each arg; a ``Var`` is "var" then its name. Struct and Enum feed their type
parameters; containers and tuples do not. ``required`` is never hashed.

A schema can only be hashed once every schema it references has its final id. Schemas that reach
themselves (recursive types) cannot wait for that, so they are hashed as a *group*: each member's
preliminary hash replaces in-group references by the id 0, the group hash is BLAKE3 of the sorted
preliminary hashes, and member ``i`` (in sorted order) gets ``BLAKE3(group ‖ i)``.

:func:`finalize_content_hashes` takes *provisional* schemas, whose ids and references are temporary
ids chosen by the caller, finds the groups (strongly connected components of the reference graph,
Tarjan), hashes everything in dependency order, and returns the final schemas with real ids.

One divergence from vox 0.4.0's code, which is the DESIGN's wording instead: vox forms groups from
*contiguous runs* of recursive schemas in its extraction order, so two independent cycles that happen
to be adjacent would share one group there; here each cycle (each SCC) is its own group. For a
single cycle, or cycles that reference one another, both give the same ids.
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


def _strongly_connected(nodes: list[int], edges: Mapping[int, list[int]]) -> list[list[int]]:
    """Tarjan's SCCs, iteratively; each component comes after every component it references."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    out: list[list[int]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work: list[tuple[int, int]] = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            succ = edges[node]
            recursed = False
            while i < len(succ):
                child = succ[i]
                i += 1
                if child not in index:
                    work.append((node, i))
                    work.append((child, 0))
                    recursed = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if recursed:
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                out.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return out


def finalize_content_hashes(provisional: Iterable[Schema]) -> tuple[dict[int, int], list[Schema]]:
    """Give provisional schemas their content hashes.

    ``provisional`` schemas have temporary ids, and their references use those temporary ids; any
    referenced id that is not one of them is taken as an already-final schema id. Returns the map
    from temporary to final ids and the final schemas (references rewritten), deduplicated by final
    id, dependencies before dependants.
    """
    schemas: dict[int, Schema] = {}
    for s in provisional:
        if s.id in schemas and schemas[s.id] != s:
            raise ValueError(f"two different provisional schemas share the temporary id {s.id}")
        schemas[s.id] = s
    order = list(schemas)
    position = {tid: i for i, tid in enumerate(order)}
    edges = {tid: [c for c in dict.fromkeys(schema_child_ids(s.kind)) if c in schemas] for tid, s in schemas.items()}
    final: dict[int, int] = {}

    def final_id(type_id: int) -> int:
        return final.get(type_id, type_id) if type_id in schemas else type_id

    for component in _strongly_connected(order, edges):
        if len(component) == 1 and component[0] not in edges[component[0]]:
            tid = component[0]
            s = schemas[tid]
            final[tid] = hash64(canonical_bytes(s.kind, s.type_params, ids=final_id))
            continue
        members = sorted(component, key=position.__getitem__)  # input order: a deterministic tie-break
        in_group = set(members)

        def prelim_id(type_id: int, in_group: set[int] = in_group) -> int:
            return 0 if type_id in in_group else final_id(type_id)

        prelim = [(hash64(canonical_bytes(schemas[m].kind, schemas[m].type_params, ids=prelim_id)), m) for m in members]
        prelim.sort(key=lambda pair: pair[0])  # stable: equal preliminary hashes keep input order
        group = hash64(b"".join(h.to_bytes(8, "little") for h, _ in prelim))
        for rank, (_, m) in enumerate(prelim):
            final[m] = hash64(group.to_bytes(8, "little") + rank.to_bytes(8, "little"))

    out: dict[int, Schema] = {}
    for component_tid in order:
        s = schemas[component_tid]
        fid = final[component_tid]
        if fid not in out:
            out[fid] = Schema(id=fid, kind=rewrite_kind(s.kind, final), type_params=s.type_params)
    return final, _dependency_order(out)


def _dependency_order(schemas: dict[int, Schema]) -> list[Schema]:
    edges = {sid: [c for c in dict.fromkeys(schema_child_ids(s.kind)) if c in schemas] for sid, s in schemas.items()}
    return [schemas[sid] for comp in _strongly_connected(list(schemas), edges) for sid in comp]
