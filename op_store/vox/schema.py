"""The vox schema model: type references, schemas of nine kinds, registries and sources.

Names follow vox-schema 0.4.0. Every object is an immutable, hashable value, so schemas can be
shared between registries, caches and stores without copying. ``to_json``/``from_json`` give the
documented JSON form used by the ORM store and the inspection API; u64 ids travel as 16 hex digits
because JSON numbers lose precision above 2**53.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeAlias, runtime_checkable

from .ids import check_u64, format_hash, parse_hash


class PrimitiveType(enum.Enum):
    """The 19 vox primitives, in vox's order; the value is the tag string that is hashed."""

    BOOL = "bool"
    U8 = "u8"
    U16 = "u16"
    U32 = "u32"
    U64 = "u64"
    U128 = "u128"
    I8 = "i8"
    I16 = "i16"
    I32 = "i32"
    I64 = "i64"
    I128 = "i128"
    F32 = "f32"
    F64 = "f64"
    CHAR = "char"
    STRING = "string"
    UNIT = "unit"
    NEVER = "never"
    BYTES = "bytes"
    PAYLOAD = "payload"

    @property
    def tag(self) -> str:
        return self.value


# --- type references -------------------------------------------------------------------------

# Inside ``TypeRef`` the names ``Concrete``/``Var`` are the class attributes below, so the factory
# methods' return types spell the classes through these aliases.
_ConcreteT: TypeAlias = "Concrete"
_VarT: TypeAlias = "Var"


class TypeRef:
    """A reference to a type: :class:`Concrete` (a schema id plus generic args) or :class:`Var`.

    ``TypeRef.concrete(id, args)`` and ``TypeRef.var(name)`` build them; ``TypeRef.Concrete`` and
    ``TypeRef.Var`` name the two variants for ``isinstance`` checks.
    """

    __slots__ = ()
    Concrete: ClassVar[type[Concrete]]
    Var: ClassVar[type[Var]]

    @staticmethod
    def concrete(type_id: int, args: Iterable[TypeRef] = ()) -> _ConcreteT:
        return Concrete(type_id, tuple(args))

    @staticmethod
    def var(name: str) -> _VarT:
        return Var(name)

    def collect_ids(self) -> list[int]:
        """Concrete ids in pre-order: own id, then each arg's ids; vars contribute nothing."""
        out: list[int] = []
        _collect(self, out)
        return out

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> TypeRef:
        tag = data.get("tag")
        if tag == "concrete":
            return Concrete(parse_hash(data["type_id"]), tuple(TypeRef.from_json(a) for a in data.get("args", ())))
        if tag == "var":
            return Var(str(data["name"]))
        raise ValueError(f"unknown TypeRef tag {tag!r}")


def _collect(ref: TypeRef, out: list[int]) -> None:
    if isinstance(ref, Concrete):
        out.append(ref.type_id)
        for arg in ref.args:
            _collect(arg, out)


@dataclass(frozen=True, slots=True)
class Concrete(TypeRef):
    """``Concrete(type_id, args)``: a use of schema ``type_id``, with args for a generic family."""

    type_id: int
    args: tuple[TypeRef, ...] = ()

    def __post_init__(self) -> None:
        check_u64(self.type_id, "type_id")
        if not isinstance(self.args, tuple):
            object.__setattr__(self, "args", tuple(self.args))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tag": "concrete", "type_id": format_hash(self.type_id)}
        if self.args:
            out["args"] = [a.to_json() for a in self.args]
        return out

    def __repr__(self) -> str:
        args = f", [{', '.join(map(repr, self.args))}]" if self.args else ""
        return f"Concrete({self.type_id:#018x}{args})"


@dataclass(frozen=True, slots=True)
class Var(TypeRef):
    """``Var(name)``: a reference to a type parameter of the enclosing generic schema."""

    name: str

    def to_json(self) -> dict[str, Any]:
        return {"tag": "var", "name": self.name}


TypeRef.Concrete = Concrete
TypeRef.Var = Var


# --- fields and variants ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldSchema:
    """A struct field; ``required`` is False when the field has a default (it is not hashed)."""

    name: str
    type_ref: TypeRef
    required: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type_ref": self.type_ref.to_json(), "required": self.required}

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> FieldSchema:
        return FieldSchema(str(data["name"]), TypeRef.from_json(data["type_ref"]), bool(data.get("required", True)))


@dataclass(frozen=True, slots=True)
class UnitPayload:
    tag: ClassVar[str] = "unit"


@dataclass(frozen=True, slots=True)
class NewtypePayload:
    type_ref: TypeRef
    tag: ClassVar[str] = "newtype"


@dataclass(frozen=True, slots=True)
class TuplePayload:
    types: tuple[TypeRef, ...]
    tag: ClassVar[str] = "tuple"


@dataclass(frozen=True, slots=True)
class StructPayload:
    fields: tuple[FieldSchema, ...]
    tag: ClassVar[str] = "struct"


VariantPayload: TypeAlias = UnitPayload | NewtypePayload | TuplePayload | StructPayload


@dataclass(frozen=True, slots=True)
class VariantSchema:
    """An enum variant: its name, its index on the wire, and what it carries."""

    name: str
    index: int
    payload: VariantPayload = field(default_factory=UnitPayload)

    def to_json(self) -> dict[str, Any]:
        p = self.payload
        payload: dict[str, Any] = {"tag": p.tag}
        if isinstance(p, NewtypePayload):
            payload["type_ref"] = p.type_ref.to_json()
        elif isinstance(p, TuplePayload):
            payload["types"] = [t.to_json() for t in p.types]
        elif isinstance(p, StructPayload):
            payload["fields"] = [f.to_json() for f in p.fields]
        return {"name": self.name, "index": self.index, "payload": payload}

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> VariantSchema:
        p = data.get("payload", {"tag": "unit"})
        tag = p.get("tag")
        payload: VariantPayload
        if tag == "unit":
            payload = UnitPayload()
        elif tag == "newtype":
            payload = NewtypePayload(TypeRef.from_json(p["type_ref"]))
        elif tag == "tuple":
            payload = TuplePayload(tuple(TypeRef.from_json(t) for t in p["types"]))
        elif tag == "struct":
            payload = StructPayload(tuple(FieldSchema.from_json(f) for f in p["fields"]))
        else:
            raise ValueError(f"unknown variant payload tag {tag!r}")
        return VariantSchema(str(data["name"]), int(data["index"]), payload)


# --- schema kinds ----------------------------------------------------------------------------


class ChannelDirection(enum.Enum):
    TX = "tx"
    RX = "rx"


@dataclass(frozen=True, slots=True)
class StructKind:
    name: str
    fields: tuple[FieldSchema, ...]
    tag: ClassVar[str] = "struct"


@dataclass(frozen=True, slots=True)
class EnumKind:
    name: str
    variants: tuple[VariantSchema, ...]
    tag: ClassVar[str] = "enum"


@dataclass(frozen=True, slots=True)
class TupleKind:
    elements: tuple[TypeRef, ...]
    tag: ClassVar[str] = "tuple"


@dataclass(frozen=True, slots=True)
class ListKind:
    element: TypeRef
    tag: ClassVar[str] = "list"


@dataclass(frozen=True, slots=True)
class MapKind:
    key: TypeRef
    value: TypeRef
    tag: ClassVar[str] = "map"


@dataclass(frozen=True, slots=True)
class ArrayKind:
    element: TypeRef
    length: int
    tag: ClassVar[str] = "array"


@dataclass(frozen=True, slots=True)
class OptionKind:
    element: TypeRef
    tag: ClassVar[str] = "option"


@dataclass(frozen=True, slots=True)
class ChannelKind:
    direction: ChannelDirection
    element: TypeRef
    tag: ClassVar[str] = "channel"


@dataclass(frozen=True, slots=True)
class PrimitiveKind:
    primitive_type: PrimitiveType
    tag: ClassVar[str] = "primitive"


SchemaKind: TypeAlias = (
    StructKind | EnumKind | TupleKind | ListKind | MapKind | ArrayKind | OptionKind | ChannelKind | PrimitiveKind
)


def _kind_to_json(kind: SchemaKind) -> dict[str, Any]:
    out: dict[str, Any] = {"tag": kind.tag}
    if isinstance(kind, StructKind):
        out.update(name=kind.name, fields=[f.to_json() for f in kind.fields])
    elif isinstance(kind, EnumKind):
        out.update(name=kind.name, variants=[v.to_json() for v in kind.variants])
    elif isinstance(kind, TupleKind):
        out["elements"] = [e.to_json() for e in kind.elements]
    elif isinstance(kind, (ListKind, OptionKind)):
        out["element"] = kind.element.to_json()
    elif isinstance(kind, MapKind):
        out.update(key=kind.key.to_json(), value=kind.value.to_json())
    elif isinstance(kind, ArrayKind):
        out.update(element=kind.element.to_json(), length=kind.length)
    elif isinstance(kind, ChannelKind):
        out.update(direction=kind.direction.value, element=kind.element.to_json())
    else:
        out["primitive_type"] = kind.primitive_type.value
    return out


def _kind_from_json(data: Mapping[str, Any]) -> SchemaKind:
    tag = data.get("tag")
    ref = TypeRef.from_json
    if tag == "struct":
        return StructKind(str(data["name"]), tuple(FieldSchema.from_json(f) for f in data["fields"]))
    if tag == "enum":
        return EnumKind(str(data["name"]), tuple(VariantSchema.from_json(v) for v in data["variants"]))
    if tag == "tuple":
        return TupleKind(tuple(ref(e) for e in data["elements"]))
    if tag == "list":
        return ListKind(ref(data["element"]))
    if tag == "option":
        return OptionKind(ref(data["element"]))
    if tag == "map":
        return MapKind(ref(data["key"]), ref(data["value"]))
    if tag == "array":
        return ArrayKind(ref(data["element"]), int(data["length"]))
    if tag == "channel":
        return ChannelKind(ChannelDirection(data["direction"]), ref(data["element"]))
    if tag == "primitive":
        return PrimitiveKind(PrimitiveType(data["primitive_type"]))
    raise ValueError(f"unknown schema kind tag {tag!r}")


# --- schemas ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Schema:
    """A content-addressed schema: ``id`` is the vox SchemaHash of ``type_params`` and ``kind``."""

    id: int
    kind: SchemaKind
    type_params: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_u64(self.id, "schema id")
        if not isinstance(self.type_params, tuple):
            object.__setattr__(self, "type_params", tuple(self.type_params))

    @property
    def name(self) -> str:
        """The declared name for structs and enums, else the kind's tag (``list``, ``u32``, ...)."""
        kind = self.kind
        if isinstance(kind, (StructKind, EnumKind)):
            return kind.name
        if isinstance(kind, PrimitiveKind):
            return kind.primitive_type.value
        return kind.tag

    def child_ids(self) -> list[int]:
        return schema_child_ids(self.kind)

    def to_json(self) -> dict[str, Any]:
        return {"id": format_hash(self.id), "type_params": list(self.type_params), "kind": _kind_to_json(self.kind)}

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Schema:
        return Schema(parse_hash(data["id"]), _kind_from_json(data["kind"]), tuple(data.get("type_params", ())))


def _type_refs_of(kind: SchemaKind) -> Iterator[TypeRef]:
    if isinstance(kind, StructKind):
        yield from (f.type_ref for f in kind.fields)
    elif isinstance(kind, EnumKind):
        for variant in kind.variants:
            p = variant.payload
            if isinstance(p, NewtypePayload):
                yield p.type_ref
            elif isinstance(p, TuplePayload):
                yield from p.types
            elif isinstance(p, StructPayload):
                yield from (f.type_ref for f in p.fields)
    elif isinstance(kind, TupleKind):
        yield from kind.elements
    elif isinstance(kind, (ListKind, OptionKind, ArrayKind, ChannelKind)):
        yield kind.element
    elif isinstance(kind, MapKind):
        yield kind.key
        yield kind.value


def schema_child_ids(kind: SchemaKind) -> list[int]:
    """Every concrete id referenced anywhere inside ``kind``, through generic args too."""
    out: list[int] = []
    for ref in _type_refs_of(kind):
        _collect(ref, out)
    return out


# --- registries and sources ------------------------------------------------------------------


@runtime_checkable
class SchemaSource(Protocol):
    """Anything that can look a schema up by hash (a registry, a store, a remote API client)."""

    def get_schema(self, schema_id: int, /) -> Schema | None: ...


class SchemaRegistry(dict[int, Schema]):
    """Schemas by hash; a :class:`SchemaSource`."""

    def __init__(self, schemas: Iterable[Schema] = ()) -> None:
        super().__init__()
        for schema in schemas:
            self.add(schema)

    def add(self, schema: Schema) -> None:
        self[schema.id] = schema

    def get_schema(self, schema_id: int, /) -> Schema | None:
        return self.get(schema_id)

    def closure(self, root: TypeRef) -> list[Schema]:
        """Schemas reachable from ``root`` (root ids, args, then everything inside each kind).

        Raises ``KeyError`` naming the first id this registry lacks.
        """
        return schema_closure(root, self)


class MissingSchemaIdError(KeyError):
    """A schema closure needs an id the source does not have."""

    def __init__(self, schema_id: int) -> None:
        super().__init__(schema_id)
        self.schema_id = schema_id

    def __str__(self) -> str:
        return f"schema {format_hash(self.schema_id)} is missing from the source"


def schema_closure(root: TypeRef, source: SchemaSource, *, skip: Iterable[int] = ()) -> list[Schema]:
    """The schema closure of ``root`` from ``source``, in vox's LIFO walk order.

    Ids in ``skip`` are treated as present with their closure (a store's known schemas). Raises
    :class:`MissingSchemaIdError` if ``source`` lacks one the closure needs.
    """
    seen = set(skip)
    stack = root.collect_ids()
    out: list[Schema] = []
    while stack:
        schema_id = stack.pop()
        if schema_id in seen:
            continue
        seen.add(schema_id)
        schema = source.get_schema(schema_id)
        if schema is None:
            raise MissingSchemaIdError(schema_id)
        stack.extend(schema.child_ids())
        out.append(schema)
    return out
