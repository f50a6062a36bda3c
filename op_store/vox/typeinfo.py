"""Classify Python annotations into the shapes vox knows, shared by ``schema_for`` and the codec.

One place decides what an annotation means, so the schema and the bytes can never disagree about it.
Unsupported annotations raise ``TypeError`` naming them.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import functools
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, TypeAlias, TypeVar, Union, get_args, get_origin

from .enums import is_enum_class, is_variant_class, variants_of
from .markers import PYTHON_BASE, ArrayLength, VoxPrimitive
from .result import Result
from .schema import PrimitiveType

NoneType = type(None)

_PLAIN: dict[Any, PrimitiveType] = {
    bool: PrimitiveType.BOOL,
    int: PrimitiveType.I64,
    float: PrimitiveType.F64,
    str: PrimitiveType.STRING,
    bytes: PrimitiveType.BYTES,
    NoneType: PrimitiveType.UNIT,
    typing.Never: PrimitiveType.NEVER,
    typing.NoReturn: PrimitiveType.NEVER,
}
_SEQUENCES: dict[Any, type] = {
    list: list,
    collections.abc.Sequence: list,
    collections.abc.MutableSequence: list,
    set: set,
    collections.abc.Set: frozenset,
    collections.abc.MutableSet: set,
    frozenset: frozenset,
}
_MAPPINGS = {dict, collections.abc.Mapping, collections.abc.MutableMapping}


@dataclass(frozen=True, slots=True)
class PrimNode:
    prim: PrimitiveType
    empty_tuple: bool = False  # ``tuple[()]`` is vox unit but decodes to ``()``


@dataclass(frozen=True, slots=True)
class SeqNode:
    element: Any
    container: type  # list, tuple, set or frozenset: what decode returns


@dataclass(frozen=True, slots=True)
class ArrayNode:
    element: Any
    length: int


@dataclass(frozen=True, slots=True)
class TupleNode:
    elements: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class MapNode:
    key: Any
    value: Any


@dataclass(frozen=True, slots=True)
class OptionNode:
    element: Any


@dataclass(frozen=True, slots=True)
class ResultNode:
    ok: Any
    err: Any


@dataclass(frozen=True, slots=True)
class StructNode:
    cls: type
    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class UnitEnumNode:
    cls: type[enum.Enum]


@dataclass(frozen=True, slots=True)
class RichEnumNode:
    cls: type
    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class VarNode:
    var: Any  # a TypeVar


Node: TypeAlias = (
    PrimNode
    | SeqNode
    | ArrayNode
    | TupleNode
    | MapNode
    | OptionNode
    | ResultNode
    | StructNode
    | UnitEnumNode
    | RichEnumNode
    | VarNode
)


def describe(tp: Any) -> str:
    """A readable name for an annotation, for error messages."""
    if isinstance(tp, type) and get_origin(tp) is None:
        return tp.__qualname__
    return repr(tp)


def classify(tp: Any) -> Node:
    """What vox shape the annotation ``tp`` is; ``TypeError`` if vox cannot describe it."""
    try:
        hash(tp)
    except TypeError:  # an annotation carrying unhashable metadata: not cacheable
        return _classify(tp)
    return _classify_cached(tp)


@functools.lru_cache(maxsize=4096)
def _classify_cached(tp: Any) -> Node:
    return _classify(tp)


def _classify(tp: Any) -> Node:
    if tp is None:
        return PrimNode(PrimitiveType.UNIT)
    if isinstance(tp, TypeVar):
        return VarNode(tp)
    if isinstance(tp, typing.NewType):
        return classify(tp.__supertype__)
    origin = get_origin(tp)
    if origin is Annotated:
        return _classify_annotated(tp)
    try:
        plain = _PLAIN.get(tp)
    except TypeError:  # an unhashable object is no type vox knows
        raise TypeError(f"vox cannot describe the annotation {describe(tp)}") from None
    if plain is not None:
        return PrimNode(plain)
    args = get_args(tp)
    if origin is Union or origin is types.UnionType:
        if len(args) == 2 and NoneType in args:
            return OptionNode(args[0] if args[1] is NoneType else args[1])
        raise TypeError(f"vox cannot describe the union {describe(tp)}: only X | None (an Option) is supported")
    if origin is tuple:
        if not args:
            return PrimNode(PrimitiveType.UNIT, empty_tuple=True)
        if len(args) == 2 and args[1] is Ellipsis:
            return SeqNode(args[0], tuple)
        return TupleNode(args)
    if origin is not None and origin in _SEQUENCES:
        if len(args) != 1:
            raise TypeError(f"vox needs the element type of {describe(tp)}")
        return SeqNode(args[0], _SEQUENCES[origin])
    if origin is not None and origin in _MAPPINGS:
        if len(args) != 2:
            raise TypeError(f"vox needs the key and value types of {describe(tp)}")
        return MapNode(args[0], args[1])
    if origin is Result:
        return ResultNode(args[0], args[1])
    if isinstance(origin, type) and args:
        if is_enum_class(origin):
            return RichEnumNode(origin, args)
        if dataclasses.is_dataclass(origin):
            return StructNode(origin, args)
    if isinstance(tp, type) and origin is None:
        if issubclass(tp, enum.Enum):
            return UnitEnumNode(tp)
        if is_variant_class(tp):
            enum_cls = tp.__dict__["__vox_enum__"]
            raise TypeError(f"annotate with the enum {enum_cls.__name__}, not its variant {tp.__qualname__}")
        if is_enum_class(tp):
            _check_not_generic(tp)
            return RichEnumNode(tp, ())
        if dataclasses.is_dataclass(tp):
            _check_not_generic(tp)
            return StructNode(tp, ())
        if tp is Result:
            raise TypeError("Result needs its type arguments: Result[T, E]")
        if tp in (tuple, list, dict, set, frozenset):
            raise TypeError(f"vox needs the item types of {tp.__name__} (e.g. {tp.__name__}[int])")
    raise TypeError(f"vox cannot describe the annotation {describe(tp)}")


def _check_not_generic(cls: type) -> None:
    params = getattr(cls, "__parameters__", ())
    if params:
        names = ", ".join(p.__name__ for p in params)
        raise TypeError(f"generic {cls.__name__} needs type arguments: {cls.__name__}[{names}]")


def _classify_annotated(tp: Any) -> Node:
    base = tp.__origin__
    metadata = tp.__metadata__
    prims = {m.primitive for m in metadata if isinstance(m, VoxPrimitive)}
    lengths = {m.length for m in metadata if isinstance(m, ArrayLength)}
    if len(prims) + len(lengths) > 1:
        raise TypeError(f"conflicting vox markers in {describe(tp)}")
    if prims:
        prim = prims.pop()
        allowed = PYTHON_BASE[prim]
        if not any(base is a for a in allowed):
            want = " or ".join(getattr(a, "__name__", repr(a)) for a in allowed)
            raise TypeError(f"vox {prim.value} annotates {want}, not {describe(base)}")
        return PrimNode(prim)
    if lengths:
        node = classify(base)
        if not isinstance(node, SeqNode) or node.container not in (tuple, list):
            raise TypeError(f"an array length annotates tuple[T, ...] or list[T], not {describe(base)}")
        return ArrayNode(node.element, lengths.pop())
    return classify(base)


# --- dataclass fields and enum variants --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldInfo:
    name: str
    annotation: Any
    required: bool
    kw_only: bool


@dataclass(frozen=True, slots=True)
class VariantInfo:
    name: str
    index: int
    kind: str  # unit, newtype, tuple, struct
    cls: type
    fields: tuple[FieldInfo, ...]


def type_params(cls: type) -> tuple[Any, ...]:
    """The TypeVars of a generic dataclass or VoxEnum, in declaration order."""
    return tuple(getattr(cls, "__parameters__", ()))


def vox_name(cls: type) -> str:
    """The name vox sees: ``__vox_name__`` declared on the class itself, else the class name."""
    name = cls.__dict__.get("__vox_name__", cls.__name__)
    return str(name)


def _hints(cls: type, localns: dict[str, Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls, localns=localns, include_extras=True)
    except NameError as exc:
        raise TypeError(
            f"cannot resolve the annotations of {cls.__qualname__}: {exc}. Forward references are resolved in "
            "the class's module; define referenced classes at module level."
        ) from exc


@functools.lru_cache(maxsize=2048)
def struct_fields(cls: type) -> tuple[FieldInfo, ...]:
    """The init fields of a dataclass in declaration order, annotations resolved (TypeVars kept).

    Fields with ``init=False`` are derived state, not part of the value, so they are not encoded.
    """
    localns = {cls.__name__: cls}
    enum_cls = cls.__dict__.get("__vox_enum__")
    if enum_cls is not None:
        localns[enum_cls.__name__] = enum_cls
    hints = _hints(cls, localns)
    out = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        out.append(FieldInfo(f.name, hints.get(f.name, f.type), required, bool(f.kw_only)))
    return tuple(out)


@functools.lru_cache(maxsize=512)
def enum_variants(cls: type) -> tuple[VariantInfo, ...]:
    """The variants of a VoxEnum in wire order, with their fields."""
    out = []
    for index, variant in enumerate(variants_of(cls)):
        kind = variant.__dict__["__vox_kind__"]
        out.append(VariantInfo(variant.__name__, index, kind, variant, struct_fields(variant)))
    return tuple(out)


def substitute(tp: Any, mapping: dict[Any, Any]) -> Any:
    """Replace the TypeVars of ``tp`` by their values in ``mapping`` (``list[T]`` -> ``list[int]``)."""
    if not mapping:
        return tp
    if isinstance(tp, TypeVar):
        return mapping.get(tp, tp)
    params = getattr(tp, "__parameters__", ())
    if not params or (isinstance(tp, type) and get_origin(tp) is None):
        return tp
    return tp[tuple(mapping.get(p, p) for p in params)]


def hashable_type(tp: Any) -> bool:
    """Whether values decoded for ``tp`` can be dict keys or set members."""
    node = classify(tp)
    if isinstance(node, PrimNode | UnitEnumNode | VarNode):
        return True
    if isinstance(node, SeqNode):
        return node.container in (tuple, frozenset) and hashable_type(node.element)
    if isinstance(node, ArrayNode):
        return hashable_type(node.element)
    if isinstance(node, TupleNode):
        return all(hashable_type(e) for e in node.elements)
    if isinstance(node, OptionNode):
        return hashable_type(node.element)
    if isinstance(node, ResultNode):
        return hashable_type(node.ok) and hashable_type(node.err)
    if isinstance(node, StructNode | RichEnumNode):  # the class only; field values are checked when decoded
        return getattr(node.cls, "__hash__", None) is not None
    return False
