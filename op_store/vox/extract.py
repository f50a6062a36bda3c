"""``schema_for``: the vox schemas of a Python annotation.

Walks the annotation the way vox's ``ExtractCtx`` walks a Rust type (``rust/vox-types/src/schema.rs``),
building *provisional* schemas with temporary ids in the same order (dependencies first, a schema
after everything it refers to), then lets :func:`~.hashing.finalize_content_hashes` give every
schema its content hash. The order matters: vox hashes recursive types, and anything referring to
them before they are hashed, by position in that order (``docs/vox-compatibility.md``).
Containers are generic families, as in vox: every ``list[X]`` uses the one List schema
(``type_params=["T"]``, ``element=Var("T")``) at ``Concrete(list, [X])``.

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
  state and are left out. A generic dataclass (``Generic[T]``) has type params; its schema is built
  from the first instantiation met, as vox builds it from a monomorphised Rust type: a field
  annotated with a bare type parameter is ``Var``, any other field is concrete (``items: list[T]``
  in ``Page[int]`` is ``Concrete(list, [i64])``); ``Page[int]`` is ``Concrete(page, [i64])``.
  One deviation: when a Map or Result family is met both with a repeated argument
  (``dict[bool, bool]``, whose vox body is ``Map{K, K}``) and without one in the same annotation,
  its body is the generic ``Map{K, V}`` / ``Ok(T) | Err(E)``, since vox's would misdescribe the
  other instantiations (:meth:`_Extractor.unify_families`).
- a unit-only ``enum.Enum`` -> Enum, variant index = declaration position (aliases are not variants);
  a :class:`~.enums.VoxEnum` -> Enum with unit/newtype/tuple/struct variants.
- self- and mutually recursive dataclasses and enums, string forward references included (resolved
  with ``typing.get_type_hints`` in the class's module).
- anything else (``Any``, ``object``, unions other than ``X | None``, bare ``list``...) -> ``TypeError``.
"""

from __future__ import annotations

import functools
import typing
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
    Node,
    OptionNode,
    PrimNode,
    ResultNode,
    RichEnumNode,
    SeqNode,
    StructNode,
    TupleNode,
    UnitEnumNode,
    classify,
    enum_variants,
    struct_fields,
    substitute,
    type_params,
    vox_name,
)

ParamMap = tuple[tuple[Any, str], ...]  # (argument annotation, parameter name), in declaration order


def _shape(tp: Any) -> Any:
    """The annotation with ``NewType`` wrappers removed: vox sees through transparent newtypes."""
    while isinstance(tp, typing.NewType):
        tp = tp.__supertype__
    return tp


def _key(node: Node) -> Any:
    """What makes two annotations share one schema (vox's ``ExtractKey``): the declaration."""
    if isinstance(node, PrimNode):
        return ("prim", node.prim)
    if isinstance(node, SeqNode):
        return ("list",)
    if isinstance(node, ArrayNode):
        return ("array", node.length)
    if isinstance(node, TupleNode):
        return ("tuple", len(node.elements))
    if isinstance(node, MapNode):
        return ("map",)
    if isinstance(node, OptionNode):
        return ("option",)
    if isinstance(node, ResultNode):
        return ("result",)
    if isinstance(node, (UnitEnumNode, StructNode, RichEnumNode)):
        return ("decl", node.cls)
    raise TypeError(f"type variable {node.var} is not bound to a type argument")


class _Extractor:
    """A port of vox's ``ExtractCtx``: the same walk, so schemas come out in the same order.

    A schema is emitted once its dependencies are (post-order); a type met again while it is being
    walked (recursion) is referred to by its temporary id. A generic declaration's schema is built
    from the first instantiation met: a field whose annotation *is* one of the type arguments
    becomes ``Var(param)``, anything else stays concrete, as vox reads monomorphised Rust types.
    """

    def __init__(self) -> None:
        self.schemas: dict[Any, Schema] = {}  # by key, in emission order
        self.ids: dict[Any, int] = {}
        self.seen: set[Any] = set()
        # For the two-parameter families: does each instantiation met repeat its first argument?
        self.repeats: dict[Any, set[bool]] = {}

    def _id_for(self, key: Any) -> int:
        tid = self.ids.get(key)
        if tid is None:
            tid = self.ids[key] = len(self.ids) + 1
        return tid

    def _emit(self, key: Any, kind: SchemaKind, params: tuple[str, ...] = ()) -> None:
        if key not in self.schemas:
            self.schemas[key] = Schema(id=self.ids[key], kind=kind, type_params=params)

    def ref_in(self, tp: Any, params: ParamMap) -> TypeRef:
        """A field's reference inside a generic body: ``Var`` when it is a type argument itself."""
        for arg, name in params:
            if tp == arg:
                self.extract(tp)
                return Var(name)
        return self.extract(tp)

    def _args(self, node: Node) -> tuple[TypeRef, ...]:
        if isinstance(node, (SeqNode, ArrayNode, OptionNode)):
            return (self.extract(node.element),)
        if isinstance(node, TupleNode):
            return tuple(self.extract(e) for e in node.elements)
        if isinstance(node, MapNode):
            return (self.extract(node.key), self.extract(node.value))
        if isinstance(node, ResultNode):
            return (self.extract(node.ok), self.extract(node.err))
        if isinstance(node, (StructNode, RichEnumNode)):
            return tuple(self.extract(a) for a in node.args)
        return ()

    def extract(self, tp: Any) -> TypeRef:
        shape = _shape(tp)
        node = classify(shape)
        key = _key(node)
        tid = self._id_for(key)
        try:
            new = shape not in self.seen
            self.seen.add(shape)
        except TypeError:  # unhashable metadata: such an annotation is never the same shape twice
            new = True
        if isinstance(node, MapNode):
            self.repeats.setdefault(key, set()).add(node.value == node.key)
        elif isinstance(node, ResultNode):
            self.repeats.setdefault(key, set()).add(node.err == node.ok)
        if not new or key in self.schemas:
            return Concrete(tid, self._args(node))
        if isinstance(node, PrimNode):
            self._emit(key, PrimitiveKind(node.prim))
            return Concrete(tid)
        if isinstance(node, (SeqNode, ArrayNode, OptionNode)):
            element = self.ref_in(node.element, ((node.element, "T"),))
            args = self._args(node)
            if isinstance(node, SeqNode):
                kind: SchemaKind = ListKind(element)
            elif isinstance(node, ArrayNode):
                kind = ArrayKind(element, node.length)
            else:
                kind = OptionKind(element)
            self._emit(key, kind, ("T",))
            return Concrete(tid, args)
        if isinstance(node, MapNode):
            params: ParamMap = ((node.key, "K"), (node.value, "V"))
            map_kind = MapKind(self.ref_in(node.key, params), self.ref_in(node.value, params))
            args = self._args(node)
            self._emit(key, map_kind, ("K", "V"))
            return Concrete(tid, args)
        if isinstance(node, ResultNode):
            params = ((node.ok, "T"), (node.err, "E"))
            ok, err = self.ref_in(node.ok, params), self.ref_in(node.err, params)
            args = self._args(node)
            variants = (VariantSchema("Ok", 0, NewtypePayload(ok)), VariantSchema("Err", 1, NewtypePayload(err)))
            self._emit(key, EnumKind("Result", variants), ("T", "E"))
            return Concrete(tid, args)
        if isinstance(node, TupleNode):
            args = self._args(node)
            names = tuple(f"T{i}" for i in range(len(node.elements)))
            self._emit(key, TupleKind(tuple(Var(n) for n in names)), names)
            return Concrete(tid, args)
        if isinstance(node, UnitEnumNode):
            cls = node.cls
            self._emit(key, EnumKind(vox_name(cls), tuple(VariantSchema(m.name, i) for i, m in enumerate(cls))))
            return Concrete(tid)
        assert isinstance(node, (StructNode, RichEnumNode))
        typevars = type_params(node.cls)
        if node.args and len(node.args) != len(typevars):
            raise TypeError(f"{node.cls.__name__} takes {len(typevars)} type arguments, got {len(node.args)}")
        bound = dict(zip(typevars, node.args, strict=False))
        params = tuple((arg, tv.__name__) for tv, arg in bound.items())
        if isinstance(node, StructNode):
            kind = StructKind(vox_name(node.cls), self._fields(struct_fields(node.cls), bound, params))
        else:
            kind = self._rich_enum(node.cls, bound, params)
        args = self._args(node)
        self._emit(key, kind, tuple(tv.__name__ for tv in typevars))
        return Concrete(tid, args)

    def _fields(
        self, fields: tuple[FieldInfo, ...], bound: dict[Any, Any], params: ParamMap
    ) -> tuple[FieldSchema, ...]:
        return tuple(
            FieldSchema(f.name, self.ref_in(substitute(f.annotation, bound), params), f.required) for f in fields
        )

    def _rich_enum(self, cls: type, bound: dict[Any, Any], params: ParamMap) -> SchemaKind:
        variants = []
        for v in enum_variants(cls):
            payload: VariantPayload
            if v.kind == "unit":
                payload = UnitPayload()
            elif v.kind == "newtype":
                payload = NewtypePayload(self.ref_in(substitute(v.fields[0].annotation, bound), params))
            elif v.kind == "tuple":
                payload = TuplePayload(tuple(self.ref_in(substitute(f.annotation, bound), params) for f in v.fields))
            else:
                payload = StructPayload(self._fields(v.fields, bound, params))
            variants.append(VariantSchema(v.name, v.index, payload))
        return EnumKind(vox_name(cls), tuple(variants))

    def unify_families(self) -> None:
        """Make a Map or Result schema parametric when its instantiations disagree on its body.

        vox builds one body per family from the first instantiation met, and there a second argument
        equal to the first becomes ``Var`` of the *first* parameter (``dict[bool, bool]`` gives
        ``Map{K, K}``). Every other instantiation in the same pass shares that body, so for
        ``dict[bool, dict[bool, bool]]`` the outer map's values would be read as ``K``: the schemas
        no longer describe the bytes. Only then is the body replaced by the generic one
        (``Map{K, V}``, ``Ok(T) | Err(E)``), which fits every instantiation; a pass whose
        instantiations all agree keeps vox's body and ids. Both bodies refer to no other schema,
        so the emission order, and every other id, stay as vox computes them.
        """
        for key, repeats in self.repeats.items():
            if len(repeats) < 2:
                continue
            old = self.schemas[key]
            kind: SchemaKind
            if key == ("map",):
                kind = MapKind(Var("K"), Var("V"))
            else:
                assert isinstance(old.kind, EnumKind)
                ok, err = old.kind.variants
                kind = EnumKind(
                    old.kind.name,
                    (
                        VariantSchema(ok.name, ok.index, NewtypePayload(Var("T"))),
                        VariantSchema(err.name, err.index, NewtypePayload(Var("E"))),
                    ),
                )
            self.schemas[key] = Schema(id=old.id, kind=kind, type_params=old.type_params)


def _build(tp: Any) -> tuple[TypeRef, dict[int, Schema]]:
    extractor = _Extractor()
    provisional_root = extractor.extract(tp)
    extractor.unify_families()
    id_map, schemas = finalize_content_hashes(extractor.schemas.values())
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
