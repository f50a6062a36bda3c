"""``schema_for``: the vox schemas of a Python annotation.

Walks the annotation once, building *provisional* schemas with temporary ids (so recursive types can
refer to themselves before anything is hashed), then lets :func:`~.hashing.finalize_content_hashes`
give every schema its content hash. Containers are generic families, as in vox: every ``list[X]``
uses the one List schema (``type_params=["T"]``, ``element=Var("T")``) at ``Concrete(list, [X])``.

Results are cached per annotation, so a repeated call costs a dict lookup and a shallow copy.

How annotations map (the codec in :mod:`.postcard` follows the same classification, :mod:`.typeinfo`):

- ``bool int float str bytes None typing.Never`` -> bool i64 f64 string bytes unit never; the markers of
  :mod:`.markers` (``U8``, ``F32``, ``Char``, ``Payload``...) pick other primitives; ``tuple[()]`` is unit;
  a ``typing.NewType`` is its supertype (transparent, like a Rust newtype).
- ``list[T]``, ``set[T]``, ``frozenset[T]``, ``tuple[T, ...]``, ``Sequence[T]`` -> the List family;
  ``fixed_array(T, n)`` -> the Array family of length n; ``tuple[A, B]`` -> the 2-tuple family (T0, T1);
  ``dict[K, V]``/``Mapping[K, V]`` -> the Map family; ``X | None``/``Optional[X]`` -> the Option family.
- ``Result[T, E]`` -> Enum "Result" (T, E) with Ok = 0 and Err = 1, newtype payloads.
- a dataclass -> Struct named by the class (or its own ``__vox_name__``), its ``init`` fields in
  declaration order, ``required`` when the field has no default; ``init=False`` fields are derived
  state and are left out. A generic dataclass (``Generic[T]``) has type params and ``Var`` fields;
  ``Page[int]`` is ``Concrete(page, [i64])``.
- a unit-only ``enum.Enum`` -> Enum, variant index = declaration position (aliases are not variants);
  a :class:`~.enums.VoxEnum` -> Enum with unit/newtype/tuple/struct variants.
- self- and mutually recursive dataclasses and enums, string forward references included (resolved
  with ``typing.get_type_hints`` in the class's module).
- anything else (``Any``, ``object``, unions other than ``X | None``, bare ``list``...) -> ``TypeError``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from .hashing import finalize_content_hashes, rewrite_type_ref
from .schema import (
    ArrayKind,
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
    SchemaRegistry,
    StructKind,
    StructPayload,
    TupleKind,
    TuplePayload,
    TypeRef,
    UnitPayload,
    Var,
    VariantPayload,
    VariantSchema,
)
from .typeinfo import (
    ArrayNode,
    FieldInfo,
    MapNode,
    OptionNode,
    PrimNode,
    ResultNode,
    RichEnumNode,
    SeqNode,
    StructNode,
    TupleNode,
    UnitEnumNode,
    VarNode,
    classify,
    describe,
    enum_variants,
    struct_fields,
    type_params,
    vox_name,
)

Scope = dict[Any, str]  # TypeVar -> parameter name, inside a generic declaration


class _Builder:
    def __init__(self) -> None:
        self.schemas: dict[int, Schema] = {}
        self.keys: dict[Any, int] = {}

    def _declare(self, key: Any, build: Callable[[int], tuple[SchemaKind, tuple[str, ...]]]) -> int:
        tid = self.keys.get(key)
        if tid is None:
            tid = self.keys[key] = len(self.keys) + 1
            kind, params = build(tid)
            self.schemas[tid] = Schema(id=tid, kind=kind, type_params=params)
        return tid

    def family(self, key: Any, kind: SchemaKind, params: tuple[str, ...]) -> int:
        return self._declare(key, lambda _tid: (kind, params))

    def ref(self, tp: Any, scope: Scope) -> TypeRef:
        node = classify(tp)
        if isinstance(node, PrimNode):
            return Concrete(self.family(("prim", node.prim), PrimitiveKind(node.prim), ()))
        if isinstance(node, VarNode):
            name = scope.get(node.var)
            if name is None:
                raise TypeError(f"type variable {node.var} is not a parameter of the enclosing generic class")
            return Var(name)
        if isinstance(node, SeqNode):
            fid = self.family(("list",), ListKind(Var("T")), ("T",))
            return Concrete(fid, (self.ref(node.element, scope),))
        if isinstance(node, ArrayNode):
            fid = self.family(("array", node.length), ArrayKind(Var("T"), node.length), ("T",))
            return Concrete(fid, (self.ref(node.element, scope),))
        if isinstance(node, TupleNode):
            n = len(node.elements)
            params = tuple(f"T{i}" for i in range(n))
            fid = self.family(("tuple", n), TupleKind(tuple(Var(p) for p in params)), params)
            return Concrete(fid, tuple(self.ref(e, scope) for e in node.elements))
        if isinstance(node, MapNode):
            fid = self.family(("map",), MapKind(Var("K"), Var("V")), ("K", "V"))
            return Concrete(fid, (self.ref(node.key, scope), self.ref(node.value, scope)))
        if isinstance(node, OptionNode):
            fid = self.family(("option",), OptionKind(Var("T")), ("T",))
            return Concrete(fid, (self.ref(node.element, scope),))
        if isinstance(node, ResultNode):
            kind = EnumKind(
                "Result",
                (
                    VariantSchema("Ok", 0, NewtypePayload(Var("T"))),
                    VariantSchema("Err", 1, NewtypePayload(Var("E"))),
                ),
            )
            fid = self.family(("result",), kind, ("T", "E"))
            return Concrete(fid, (self.ref(node.ok, scope), self.ref(node.err, scope)))
        if isinstance(node, UnitEnumNode):
            cls = node.cls
            variants = tuple(VariantSchema(m.name, i) for i, m in enumerate(cls))
            return Concrete(self.family(("enum", cls), EnumKind(vox_name(cls), variants), ()))
        if isinstance(node, StructNode):
            return self._generic(node.cls, node.args, scope, self._struct)
        if isinstance(node, RichEnumNode):
            return self._generic(node.cls, node.args, scope, self._rich_enum)
        raise TypeError(f"vox cannot describe the annotation {describe(tp)}")  # pragma: no cover

    def _generic(
        self, cls: type, args: tuple[Any, ...], scope: Scope, build: Callable[[type, Scope], SchemaKind]
    ) -> TypeRef:
        params = type_params(cls)
        if args and len(args) != len(params):
            raise TypeError(f"{cls.__name__} takes {len(params)} type arguments, got {len(args)}")
        inner: Scope = {p: p.__name__ for p in params}
        tid = self._declare(("decl", cls), lambda _tid: (build(cls, inner), tuple(inner.values())))
        return Concrete(tid, tuple(self.ref(a, scope) for a in args))

    def _fields(self, fields: tuple[FieldInfo, ...], scope: Scope) -> tuple[FieldSchema, ...]:
        return tuple(FieldSchema(f.name, self.ref(f.annotation, scope), f.required) for f in fields)

    def _struct(self, cls: type, scope: Scope) -> SchemaKind:
        return StructKind(vox_name(cls), self._fields(struct_fields(cls), scope))

    def _rich_enum(self, cls: type, scope: Scope) -> SchemaKind:
        variants = []
        for v in enum_variants(cls):
            payload: VariantPayload
            if v.kind == "unit":
                payload = UnitPayload()
            elif v.kind == "newtype":
                payload = NewtypePayload(self.ref(v.fields[0].annotation, scope))
            elif v.kind == "tuple":
                payload = TuplePayload(tuple(self.ref(f.annotation, scope) for f in v.fields))
            else:
                payload = StructPayload(self._fields(v.fields, scope))
            variants.append(VariantSchema(v.name, v.index, payload))
        return EnumKind(vox_name(cls), tuple(variants))


def _build(tp: Any) -> tuple[TypeRef, dict[int, Schema]]:
    builder = _Builder()
    provisional_root = builder.ref(tp, {})
    id_map, schemas = finalize_content_hashes(builder.schemas.values())
    return rewrite_type_ref(provisional_root, id_map), {s.id: s for s in schemas}


@functools.lru_cache(maxsize=2048)
def _build_cached(tp: Any) -> tuple[TypeRef, dict[int, Schema]]:
    return _build(tp)


def _lookup(tp: Any) -> tuple[TypeRef, dict[int, Schema]]:
    try:
        hash(tp)
    except TypeError:  # annotation with unhashable metadata: build every time
        return _build(tp)
    return _build_cached(tp)


def schema_for(tp: Any) -> tuple[TypeRef, SchemaRegistry]:
    """The root TypeRef of annotation ``tp`` and a registry holding the closure of its schemas.

    The registry is a fresh copy on every call (callers may add to it); ``TypeError`` names an
    annotation vox cannot describe.
    """
    root, schemas = _lookup(tp)
    registry = SchemaRegistry()
    dict.update(registry, schemas)
    return root, registry


def type_ref_for(tp: Any) -> TypeRef:
    """Just the root TypeRef of ``tp`` (no registry copy)."""
    return _lookup(tp)[0]


PRIMITIVE_TYPES = tuple(PrimitiveType)
