"""``decode_ref``: postcard decoded by schemas alone, into plain JSON-able values.

This is how a stored response is shown to a human (admin, inspection API) when the Python type that
produced it is not at hand: only its root TypeRef and the schemas in a :class:`SchemaSource`.

JSON shapes (stable; the inspection API documents them too):

===================  =========================================================================
vox                  JSON value
===================  =========================================================================
bool                 ``true`` / ``false``
u8 … u128, i8 … i128 number (a Python ``int``; 64/128-bit values are exact in Python, not in JS)
f32, f64             number; NaN and infinities, which JSON cannot hold, become the strings
                     ``"NaN"``, ``"Infinity"``, ``"-Infinity"``
char, string         string
bytes, payload       lowercase hex string (``"deadbeef"``)
unit                 ``null``
struct               object of field name -> value, in field order
enum (incl. Result)  ``{"variant": "<name>", "value": <payload>}``: payload ``null`` for a unit
                     variant, the value for a newtype, an array for a tuple, an object for a
                     struct variant
option               ``null`` or the value (so ``Some(None)`` and ``None`` both show ``null``)
list, array, tuple   array
map                  object when the key type is string or char; otherwise an array of
                     ``[key, value]`` pairs, in wire order
channel              the channel id (a number)
===================  =========================================================================

Errors are the :mod:`.errors` ``DecodeError`` subclasses, with byte offsets; a schema id the
source lacks is :class:`UnknownSchemaError`, schemas that do not fit together (an unbound ``Var``,
the wrong number of type arguments) are :class:`InvalidSchemaError`. Lookups go to the source at most
once per id per call.
"""

from __future__ import annotations

import math
from typing import Any

from . import wire
from .errors import (
    InvalidSchemaError,
    InvalidValueError,
    NestingError,
    TrailingBytesError,
    UnknownSchemaError,
    UnknownVariantError,
)
from .schema import (
    ArrayKind,
    ChannelKind,
    Concrete,
    EnumKind,
    ListKind,
    MapKind,
    NewtypePayload,
    OptionKind,
    PrimitiveKind,
    PrimitiveType,
    Schema,
    SchemaSource,
    StructKind,
    StructPayload,
    TupleKind,
    TuplePayload,
    TypeRef,
    Var,
)

_P = PrimitiveType


def _float(x: float) -> float | str:
    if math.isfinite(x):
        return x
    if math.isnan(x):
        return "NaN"
    return "Infinity" if x > 0 else "-Infinity"


def _hex(reader: wire.Reader) -> wire.Reader:
    def read(buf: bytes, pos: int) -> tuple[Any, int]:
        data, pos = reader(buf, pos)
        return data.hex(), pos

    return read


def _floats(reader: wire.Reader) -> wire.Reader:
    def read(buf: bytes, pos: int) -> tuple[Any, int]:
        x, pos = reader(buf, pos)
        return _float(x), pos

    return read


def _unit(buf: bytes, pos: int) -> tuple[Any, int]:
    return None, pos


def _never(buf: bytes, pos: int) -> tuple[Any, int]:
    raise InvalidValueError(pos, "never has no values")


_PRIMITIVE_READERS: dict[PrimitiveType, wire.Reader] = {
    _P.BOOL: wire.read_bool,
    _P.U8: wire.read_u8,
    _P.U16: wire.read_u16,
    _P.U32: wire.read_u32,
    _P.U64: wire.read_u64,
    _P.U128: wire.read_u128,
    _P.I8: wire.read_i8,
    _P.I16: wire.read_i16,
    _P.I32: wire.read_i32,
    _P.I64: wire.read_i64,
    _P.I128: wire.read_i128,
    _P.F32: _floats(wire.read_f32),
    _P.F64: _floats(wire.read_f64),
    _P.CHAR: wire.read_char,
    _P.STRING: wire.read_str,
    _P.UNIT: _unit,
    _P.NEVER: _never,
    _P.BYTES: _hex(wire.read_bytes),
    _P.PAYLOAD: _hex(wire.read_payload),
}
_PRIMITIVE_MIN_SIZE = {
    **dict.fromkeys(PrimitiveType, 1),
    _P.F32: 4,
    _P.F64: 8,
    _P.CHAR: 2,
    _P.UNIT: 0,
    _P.NEVER: 0,
    _P.PAYLOAD: 4,
}


def decode_ref(data: bytes | bytearray | memoryview, type_ref: TypeRef, source: SchemaSource) -> Any:
    """Decode ``data`` as ``type_ref`` using only schemas from ``source``; see the module docstring."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"decode_ref needs bytes, got {type(data).__name__}")
    buf = bytes(data)
    wire.reset_budget()
    decoder = _RefDecoder(buf, source)
    value, pos = decoder.value(type_ref, {}, 0)
    if pos != len(buf):
        raise TrailingBytesError(pos, f"{len(buf) - pos} bytes left after the value")
    return value


Env = dict[str, Concrete]


class _RefDecoder:
    def __init__(self, buf: bytes, source: SchemaSource) -> None:
        self.buf = buf
        self.source = source
        self.schemas: dict[int, Schema | None] = {}
        self.sizes: dict[Concrete, int] = {}

    def schema(self, type_id: int, pos: int) -> Schema:
        try:
            schema = self.schemas[type_id]
        except KeyError:
            schema = self.schemas[type_id] = self.source.get_schema(type_id)
        if schema is None:
            raise UnknownSchemaError(pos, type_id)
        return schema

    def resolve(self, ref: TypeRef, env: Env, pos: int) -> Concrete:
        if isinstance(ref, Var):
            bound = env.get(ref.name)
            if bound is None:
                raise InvalidSchemaError(pos, f"type variable {ref.name!r} is not bound")
            return bound
        if isinstance(ref, Concrete):
            if not ref.args:
                return ref
            return Concrete(ref.type_id, tuple(self.resolve(a, env, pos) for a in ref.args))
        raise InvalidSchemaError(pos, f"not a TypeRef: {ref!r}")

    def bind(self, ref: Concrete, pos: int) -> tuple[Schema, Env]:
        schema = self.schema(ref.type_id, pos)
        if len(ref.args) != len(schema.type_params):
            raise InvalidSchemaError(
                pos, f"schema {schema.name} takes {len(schema.type_params)} type arguments, got {len(ref.args)}"
            )
        env: Env = {}
        for name, arg in zip(schema.type_params, ref.args, strict=True):
            if not isinstance(arg, Concrete):
                raise InvalidSchemaError(pos, f"unresolved type argument {arg!r}")
            env[name] = arg
        return schema, env

    def min_size(self, ref: Concrete, pos: int) -> int:
        """A lower bound of the encoded size of a value of ``ref`` (0 for zero-sized types)."""
        known = self.sizes.get(ref)
        if known is not None:
            return known
        self.sizes[ref] = 0  # in progress: recursion contributes a safe lower bound of 0
        schema, env = self.bind(ref, pos)
        kind = schema.kind
        size = 1
        if isinstance(kind, PrimitiveKind):
            size = _PRIMITIVE_MIN_SIZE[kind.primitive_type]
        elif isinstance(kind, StructKind):
            size = sum(self.min_size(self.resolve(f.type_ref, env, pos), pos) for f in kind.fields)
        elif isinstance(kind, TupleKind):
            size = sum(self.min_size(self.resolve(e, env, pos), pos) for e in kind.elements)
        elif isinstance(kind, ArrayKind):
            size = kind.length * self.min_size(self.resolve(kind.element, env, pos), pos)
        elif isinstance(kind, EnumKind):
            size = 1 if kind.variants else 0
        self.sizes[ref] = size
        return size

    def value(self, ref: TypeRef, env: Env, pos: int) -> tuple[Any, int]:
        try:
            concrete = self.resolve(ref, env, pos)
            schema, inner = self.bind(concrete, pos)
            kind = schema.kind
            if isinstance(kind, PrimitiveKind):
                return _PRIMITIVE_READERS[kind.primitive_type](self.buf, pos)
            if isinstance(kind, StructKind):
                out: dict[str, Any] = {}
                for f in kind.fields:
                    out[f.name], pos = self.value(f.type_ref, inner, pos)
                return out, pos
            if isinstance(kind, EnumKind):
                return self.enum(kind, inner, pos)
            if isinstance(kind, TupleKind):
                return self.items(kind.elements, inner, pos)
            if isinstance(kind, ListKind):
                return self.list(kind, inner, pos)
            if isinstance(kind, MapKind):
                return self.map(kind, inner, pos)
            if isinstance(kind, ArrayKind):
                element = self.resolve(kind.element, inner, pos)
                wire.check_count(self.buf, pos, pos, kind.length, self.min_size(element, pos))
                return self.items([element] * kind.length, inner, pos)
            if isinstance(kind, OptionKind):
                some, pos = wire.read_option_tag(self.buf, pos)
                return self.value(kind.element, inner, pos) if some else (None, pos)
            if isinstance(kind, ChannelKind):
                return wire.read_u64(self.buf, pos)
            raise InvalidSchemaError(pos, f"unknown schema kind {kind!r}")
        except RecursionError:
            raise NestingError(pos, "value nested deeper than the recursion limit") from None

    def items(self, refs: Any, env: Env, pos: int) -> tuple[list[Any], int]:
        out = []
        for r in refs:
            x, pos = self.value(r, env, pos)
            out.append(x)
        return out, pos

    def list(self, kind: ListKind, env: Env, pos: int) -> tuple[list[Any], int]:
        start = pos
        n, pos = wire.read_len(self.buf, pos)
        if not n:
            return [], pos
        element = self.resolve(kind.element, env, start)
        wire.check_count(self.buf, pos, start, n, self.min_size(element, start))
        element_kind = self.schema(element.type_id, pos).kind
        if isinstance(element_kind, PrimitiveKind) and element_kind.primitive_type is _P.UNIT:
            return [None] * n, pos
        out = []
        for _ in range(n):
            x, pos = self.value(element, env, pos)
            out.append(x)
        return out, pos

    def map(self, kind: MapKind, env: Env, pos: int) -> tuple[Any, int]:
        start = pos
        n, pos = wire.read_len(self.buf, pos)
        key = self.resolve(kind.key, env, start)
        value = self.resolve(kind.value, env, start)
        key_kind = self.schema(key.type_id, start).kind
        string_keys = isinstance(key_kind, PrimitiveKind) and key_kind.primitive_type in (_P.STRING, _P.CHAR)
        if not n:
            return ({} if string_keys else []), pos
        wire.check_count(self.buf, pos, start, n, self.min_size(key, start) + self.min_size(value, start))
        if string_keys:
            obj: dict[str, Any] = {}
            for _ in range(n):
                at = pos
                k, pos = self.value(key, env, pos)
                if k in obj:
                    raise InvalidValueError(at, f"duplicate map key {k!r}")
                obj[k], pos = self.value(value, env, pos)
            return obj, pos
        pairs = []
        for _ in range(n):
            k, pos = self.value(key, env, pos)
            v, pos = self.value(value, env, pos)
            pairs.append([k, v])
        return pairs, pos

    def enum(self, kind: EnumKind, env: Env, pos: int) -> tuple[Any, int]:
        start = pos
        index, pos = wire.read_u32(self.buf, pos)
        variant = next((v for v in kind.variants if v.index == index), None)
        if variant is None:
            raise UnknownVariantError(start, f"{kind.name} has no variant {index}")
        p = variant.payload
        payload: Any = None
        if isinstance(p, NewtypePayload):
            payload, pos = self.value(p.type_ref, env, pos)
        elif isinstance(p, TuplePayload):
            payload, pos = self.items(p.types, env, pos)
        elif isinstance(p, StructPayload):
            payload = {}
            for f in p.fields:
                payload[f.name], pos = self.value(f.type_ref, env, pos)
        return {"variant": variant.name, "value": payload}, pos
