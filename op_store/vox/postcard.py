"""Postcard encoding typed by Python annotations: ``encode(value, tp)`` and ``decode(data, tp)``.

Each annotation is compiled once into an encoder and a decoder closure (structs get generated code)
and cached, so per value there is no annotation inspection. The wire rules are postcard's
(``docs/vox-compatibility.md`` lists the tables checked); the readers live in :mod:`.wire`.

What decode returns: dataclass instances, ``enum.Enum`` members, VoxEnum variant instances,
``Ok``/``Err``, ``tuple`` for fixed tuples and arrays, ``list``/``tuple``/``set``/``frozenset`` as
annotated for sequences, ``dict`` for maps, ``None`` for unit and an absent option.

What encode accepts: the values decode returns, plus a few lenient spellings — a ``list`` where a
fixed tuple or ``tuple[T, ...]`` is due and vice versa, any ``Mapping`` for a map, an ``int`` for a
float, any object with ``__index__`` (numpy integers) for an int, ``bytearray``/``memoryview`` for
bytes. ``bool`` is never accepted as an integer, nor a ``float`` (not even ``1.0``). Sets are
written in the order of their elements' encodings, so equal sets give equal bytes in any process.
NaN and infinities are valid f32/f64 values and encode as such.

Strictness: decode refuses duplicate map keys and duplicate set elements (a canonical encoder never
writes them), and a dataclass whose constructor raises on the decoded fields (``InvalidValueError``).
Values nested deeper than Python's recursion limit raise ``NestingError`` / ``EncodeError``; a
recursive type takes about three frames per level, so roughly 300 levels fit the default limit.
"""

from __future__ import annotations

import enum
import operator
import reprlib
import struct
import threading
from collections.abc import Callable, Mapping
from typing import Any

from . import wire
from .errors import (
    DecodeError,
    EncodeError,
    InvalidValueError,
    NestingError,
    TrailingBytesError,
    UnknownVariantError,
)
from .result import Err, Ok
from .schema import PrimitiveType
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
    hashable_type,
    struct_fields,
    substitute,
    type_params,
)
from .wire import write_varint

Encoder = Callable[[Any, bytearray], None]
Decoder = Callable[[bytes, int], tuple[Any, int]]


class Codec:
    """The compiled encoder and decoder of one annotation; ``min_size`` bounds a value's encoded size."""

    __slots__ = ("dec", "enc", "min_size")

    def __init__(self, enc: Encoder, dec: Decoder, min_size: int) -> None:
        self.enc = enc
        self.dec = dec
        self.min_size = min_size

    def encode(self, value: Any) -> bytes:
        out = bytearray()
        try:
            self.enc(value, out)
        except RecursionError:
            raise EncodeError("value nested too deeply (or cyclic) to encode") from None
        return bytes(out)

    def decode(self, data: bytes | bytearray | memoryview) -> Any:
        if type(data) is bytes:
            buf = data
        elif isinstance(data, bytes | bytearray | memoryview):
            buf = bytes(data)
        else:
            raise TypeError(f"decode needs bytes, got {type(data).__name__}")
        wire.reset_budget()
        value, pos = self.dec(buf, 0)
        if pos != len(buf):
            raise TrailingBytesError(pos, f"{len(buf) - pos} bytes left after the value")
        return value


def encode(value: Any, tp: Any) -> bytes:
    """The postcard bytes of ``value`` as annotation ``tp``; ``EncodeError`` if it does not fit."""
    return codec_for(tp).encode(value)


def decode(data: bytes | bytearray | memoryview, tp: Any) -> Any:
    """The value of annotation ``tp`` that ``data`` encodes, all of it; only ``DecodeError`` on bad bytes."""
    return codec_for(tp).decode(data)


# --- the compiled-codec cache ------------------------------------------------------------------

_CODECS: dict[Any, Codec] = {}
_LOCK = threading.RLock()


def codec_for(tp: Any) -> Codec:
    """The (cached) codec of annotation ``tp``; ``TypeError`` if vox cannot describe it."""
    try:
        return _CODECS[tp]
    except KeyError:
        pass
    except TypeError:  # unhashable annotation metadata: compile without caching
        return _Compiler().codec(tp)
    with _LOCK:
        codec = _CODECS.get(tp)
        if codec is None:
            compiler = _Compiler()
            codec = compiler.codec(tp)
            _CODECS.update(compiler.done)  # only after everything compiled: no half-built entries
    return codec


def _type_error(value: Any, want: str) -> EncodeError:
    return EncodeError(f"expected {want}, got {type(value).__name__} {_short(value)}")


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60


def _short(value: Any) -> str:
    """A bounded repr for error messages (a huge value must not make the error path slow)."""
    return _REPR.repr(value)


# --- primitives ----------------------------------------------------------------------------------


def _as_int(v: Any, name: str) -> int:
    """An int from an int subclass or an integer-like object (``__index__``: numpy ints); never a bool."""
    if isinstance(v, bool) or not hasattr(type(v), "__index__"):
        raise _type_error(v, f"an int ({name})")
    try:
        return operator.index(v)
    except TypeError:
        raise _type_error(v, f"an int ({name})") from None


def _uint_codec(prim: PrimitiveType, bits: int) -> Codec:
    hi = (1 << bits) - 1
    name = prim.value
    read = wire.make_varint_reader(bits)

    def enc(v: Any, out: bytearray) -> None:
        if type(v) is not int:
            v = _as_int(v, name)
        if v < 0 or v > hi:
            raise EncodeError(f"{v} does not fit {name} (0..{hi})")
        while v >= 0x80:
            out.append((v & 0x7F) | 0x80)
            v >>= 7
        out.append(v)

    return Codec(enc, read, 1)


def _sint_codec(prim: PrimitiveType, bits: int) -> Codec:
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    name = prim.value
    read = wire.make_zigzag_reader(bits)

    def enc(v: Any, out: bytearray) -> None:
        if type(v) is not int:
            v = _as_int(v, name)
        if v < lo or v > hi:
            raise EncodeError(f"{v} does not fit {name} ({lo}..{hi})")
        v = v << 1 if v >= 0 else ((-v) << 1) - 1
        while v >= 0x80:
            out.append((v & 0x7F) | 0x80)
            v >>= 7
        out.append(v)

    return Codec(enc, read, 1)


def _u8_enc(v: Any, out: bytearray) -> None:
    if type(v) is not int:
        v = _as_int(v, "u8")
    if v < 0 or v > 0xFF:
        raise EncodeError(f"{v} does not fit u8 (0..255)")
    out.append(v)


def _i8_enc(v: Any, out: bytearray) -> None:
    if type(v) is not int:
        v = _as_int(v, "i8")
    if v < -128 or v > 127:
        raise EncodeError(f"{v} does not fit i8 (-128..127)")
    out.append(v & 0xFF)


def _bool_enc(v: Any, out: bytearray) -> None:
    if v is True:
        out.append(1)
    elif v is False:
        out.append(0)
    else:
        raise _type_error(v, "a bool")


def _float_codec(fmt: struct.Struct, name: str, read: Decoder) -> Codec:
    pack = fmt.pack

    def enc(v: Any, out: bytearray) -> None:
        if type(v) is not float:
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise _type_error(v, f"a float ({name})")
            try:
                v = float(v)
            except OverflowError:
                raise EncodeError(f"{v} does not fit {name}") from None
        try:
            out += pack(v)
        except OverflowError:
            raise EncodeError(f"{v} does not fit {name}") from None

    return Codec(enc, read, fmt.size)


def _encode_utf8(v: str) -> bytes:
    try:
        return v.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EncodeError(f"string is not encodable as UTF-8 ({exc.reason}): {_short(v)}") from None


def _str_enc(v: Any, out: bytearray) -> None:
    if type(v) is not str and not isinstance(v, str):
        raise _type_error(v, "a str")
    data = _encode_utf8(v)
    write_varint(out, len(data))
    out += data


def _char_enc(v: Any, out: bytearray) -> None:
    if not isinstance(v, str) or len(v) != 1:
        raise _type_error(v, "a str of one character (char)")
    data = _encode_utf8(v)
    out.append(len(data))
    out += data


def _bytes_enc(v: Any, out: bytearray) -> None:
    if type(v) is not bytes:
        if not isinstance(v, bytes | bytearray | memoryview):
            raise _type_error(v, "bytes")
        v = bytes(v)
    write_varint(out, len(v))
    out += v


def _payload_enc(v: Any, out: bytearray) -> None:
    if type(v) is not bytes:
        if not isinstance(v, bytes | bytearray | memoryview):
            raise _type_error(v, "bytes (payload)")
        v = bytes(v)
    if len(v) > 0xFFFFFFFF:
        raise EncodeError(f"a payload holds at most 4 GiB, got {len(v)} bytes")
    out += len(v).to_bytes(4, "little")
    out += v


def _unit_enc(v: Any, out: bytearray) -> None:
    if v is not None:
        raise _type_error(v, "None (unit)")


def _unit_dec(buf: bytes, pos: int) -> tuple[Any, int]:
    return None, pos


def _empty_tuple_enc(v: Any, out: bytearray) -> None:
    if v != () or not isinstance(v, tuple):
        raise _type_error(v, "() (unit)")


def _empty_tuple_dec(buf: bytes, pos: int) -> tuple[Any, int]:
    return (), pos


def _never_enc(v: Any, out: bytearray) -> None:
    raise EncodeError(f"never has no values, got {type(v).__name__} {_short(v)}")


def _never_dec(buf: bytes, pos: int) -> tuple[Any, int]:
    raise InvalidValueError(pos, "never has no values")


_P = PrimitiveType
_PRIMITIVE_CODECS: dict[PrimitiveType, Codec] = {
    _P.BOOL: Codec(_bool_enc, wire.read_bool, 1),
    _P.U8: Codec(_u8_enc, wire.read_u8, 1),
    _P.U16: _uint_codec(_P.U16, 16),
    _P.U32: _uint_codec(_P.U32, 32),
    _P.U64: _uint_codec(_P.U64, 64),
    _P.U128: _uint_codec(_P.U128, 128),
    _P.I8: Codec(_i8_enc, wire.read_i8, 1),
    _P.I16: _sint_codec(_P.I16, 16),
    _P.I32: _sint_codec(_P.I32, 32),
    _P.I64: _sint_codec(_P.I64, 64),
    _P.I128: _sint_codec(_P.I128, 128),
    _P.F32: _float_codec(struct.Struct("<f"), "f32", wire.read_f32),
    _P.F64: _float_codec(struct.Struct("<d"), "f64", wire.read_f64),
    _P.CHAR: Codec(_char_enc, wire.read_char, 2),
    _P.STRING: Codec(_str_enc, wire.read_str, 1),
    _P.UNIT: Codec(_unit_enc, _unit_dec, 0),
    _P.NEVER: Codec(_never_enc, _never_dec, 0),
    _P.BYTES: Codec(_bytes_enc, wire.read_bytes, 1),
    _P.PAYLOAD: Codec(_payload_enc, wire.read_payload, 4),
}
_EMPTY_TUPLE = Codec(_empty_tuple_enc, _empty_tuple_dec, 0)


# --- compiling composite types -------------------------------------------------------------------


class _Compiler:
    """Compiles one annotation and everything it needs; recursive types get forwarding codecs."""

    def __init__(self) -> None:
        self.done: dict[Any, Codec] = {}
        self.pending: dict[Any, list[tuple[Codec, list[Codec]]]] = {}  # tp -> (forwarder, its target cell)

    def codec(self, tp: Any) -> Codec:
        try:
            cached = _CODECS.get(tp) or self.done.get(tp)
        except TypeError:
            return self._compile(tp)
        if cached is not None:
            return cached
        if tp in self.pending:
            return self._forwarder(tp)
        self.pending[tp] = []
        try:
            codec = self._compile(tp)
        finally:
            forwarders = self.pending.pop(tp)
        for fwd, target in forwarders:
            fwd.min_size = codec.min_size
            target.append(codec)
        self.done[tp] = codec
        return codec

    def _forwarder(self, tp: Any) -> Codec:
        """A codec standing in for ``tp`` while ``tp`` is still being compiled (a recursive reference).

        Only recursive types reach one, and only they can nest without bound, so this is where deep
        input turns into ``NestingError`` instead of ``RecursionError``.
        """
        target: list[Codec] = []

        def enc(v: Any, out: bytearray) -> None:
            target[0].enc(v, out)

        def dec(buf: bytes, pos: int) -> tuple[Any, int]:
            try:
                return target[0].dec(buf, pos)
            except RecursionError:
                raise NestingError(pos, "value nested deeper than the recursion limit") from None

        fwd = Codec(enc, dec, 0)
        self.pending[tp].append((fwd, target))
        return fwd

    def _compile(self, tp: Any) -> Codec:
        node = classify(tp)
        if isinstance(node, PrimNode):
            return _EMPTY_TUPLE if node.empty_tuple else _PRIMITIVE_CODECS[node.prim]
        if isinstance(node, SeqNode):
            return self._sequence(node)
        if isinstance(node, ArrayNode):
            return self._array(node)
        if isinstance(node, TupleNode):
            return self._tuple(node)
        if isinstance(node, MapNode):
            return self._map(node)
        if isinstance(node, OptionNode):
            return self._option(node)
        if isinstance(node, ResultNode):
            return self._result(node)
        if isinstance(node, UnitEnumNode):
            return _unit_enum(node.cls)
        if isinstance(node, StructNode):
            mapping = dict(zip(type_params(node.cls), node.args, strict=False))
            return self._struct(node.cls, struct_fields(node.cls), mapping)
        if isinstance(node, RichEnumNode):
            mapping = dict(zip(type_params(node.cls), node.args, strict=False))
            return self._rich_enum(node.cls, mapping)
        if isinstance(node, VarNode):
            raise TypeError(f"unbound type variable {node.var} in {describe(tp)}")
        raise TypeError(f"vox cannot describe the annotation {describe(tp)}")  # pragma: no cover

    def _sequence(self, node: SeqNode) -> Codec:
        item = self.codec(node.element)
        e, d = item.enc, item.dec
        container = node.container
        read_len = wire.read_len
        check_count = wire.check_count

        if container in (list, tuple):
            kind = "a list" if container is list else "a tuple"

            def enc(v: Any, out: bytearray) -> None:
                if type(v) is not container and not isinstance(v, list | tuple):
                    raise _type_error(v, kind)
                write_varint(out, len(v))
                for i, x in enumerate(v):
                    try:
                        e(x, out)
                    except EncodeError as exc:
                        raise exc.at(f"[{i}]") from None

            unit = item.dec is _unit_dec

            def dec(buf: bytes, pos: int) -> tuple[Any, int]:
                start = pos
                n, pos = read_len(buf, pos)
                check_count(buf, pos, start, n, item.min_size)
                if unit:
                    return ([None] * n if container is list else (None,) * n), pos
                items: list[Any] = []
                append = items.append
                for _ in range(n):
                    x, pos = d(buf, pos)
                    append(x)
                return (items if container is list else tuple(items)), pos

            return Codec(enc, dec, 1)

        if not hashable_type(node.element):
            raise TypeError(f"set elements of type {describe(node.element)} are not hashable")
        kind = "a set" if container is set else "a frozenset"

        def enc_set(v: Any, out: bytearray) -> None:
            if not isinstance(v, set | frozenset):
                raise _type_error(v, kind)
            parts = []
            for x in v:
                part = bytearray()
                try:
                    e(x, part)
                except EncodeError as exc:
                    raise exc.at(f"[{_short(x)}]") from None
                parts.append(bytes(part))
            parts.sort()
            write_varint(out, len(parts))
            out += b"".join(parts)

        def dec_set(buf: bytes, pos: int) -> tuple[Any, int]:
            start = pos
            n, pos = read_len(buf, pos)
            check_count(buf, pos, start, n, item.min_size)
            items: set[Any] = set()
            for _ in range(n):
                at = pos
                x, pos = d(buf, pos)
                size = len(items)
                try:
                    items.add(x)
                except TypeError as exc:
                    raise InvalidValueError(at, f"set element is not hashable: {exc}") from None
                if len(items) == size:
                    raise InvalidValueError(at, "duplicate set element")
            return (items if container is set else frozenset(items)), pos

        return Codec(enc_set, dec_set, 1)

    def _array(self, node: ArrayNode) -> Codec:
        item = self.codec(node.element)
        e, d, length = item.enc, item.dec, node.length

        def enc(v: Any, out: bytearray) -> None:
            if not isinstance(v, tuple | list) or len(v) != length:
                raise _type_error(v, f"a tuple of {length} items (array)")
            for i, x in enumerate(v):
                try:
                    e(x, out)
                except EncodeError as exc:
                    raise exc.at(f"[{i}]") from None

        def dec(buf: bytes, pos: int) -> tuple[Any, int]:
            wire.check_count(buf, pos, pos, length, item.min_size)
            items = []
            for _ in range(length):
                x, pos = d(buf, pos)
                items.append(x)
            return tuple(items), pos

        return Codec(enc, dec, length * item.min_size)

    def _tuple(self, node: TupleNode) -> Codec:
        items = [self.codec(t) for t in node.elements]
        encs = [c.enc for c in items]
        decs = [c.dec for c in items]
        n = len(items)

        def enc(v: Any, out: bytearray) -> None:
            if not isinstance(v, tuple | list) or len(v) != n:
                raise _type_error(v, f"a tuple of {n} items")
            for i, (e, x) in enumerate(zip(encs, v, strict=True)):
                try:
                    e(x, out)
                except EncodeError as exc:
                    raise exc.at(f"[{i}]") from None

        def dec(buf: bytes, pos: int) -> tuple[Any, int]:
            out = []
            for d in decs:
                x, pos = d(buf, pos)
                out.append(x)
            return tuple(out), pos

        codec = Codec(enc, dec, 0)
        codec.min_size = sum(c.min_size for c in items)
        return codec

    def _map(self, node: MapNode) -> Codec:
        if not hashable_type(node.key):
            raise TypeError(f"map keys of type {describe(node.key)} are not hashable")
        kc, vc = self.codec(node.key), self.codec(node.value)
        ek, ev, dk, dv = kc.enc, vc.enc, kc.dec, vc.dec
        read_len = wire.read_len

        def enc(v: Any, out: bytearray) -> None:
            if type(v) is not dict and not isinstance(v, Mapping):
                raise _type_error(v, "a dict")
            write_varint(out, len(v))
            for k, x in v.items():
                try:
                    ek(k, out)
                    ev(x, out)
                except EncodeError as exc:
                    raise exc.at(f"[{_short(k)}]") from None

        def dec(buf: bytes, pos: int) -> tuple[Any, int]:
            start = pos
            n, pos = read_len(buf, pos)
            wire.check_count(buf, pos, start, n, kc.min_size + vc.min_size)
            out: dict[Any, Any] = {}
            for _ in range(n):
                at = pos
                k, pos = dk(buf, pos)
                x, pos = dv(buf, pos)
                size = len(out)
                try:
                    out[k] = x
                except TypeError as exc:
                    raise InvalidValueError(at, f"map key is not hashable: {exc}") from None
                if len(out) == size:
                    raise InvalidValueError(at, f"duplicate map key {_short(k)}")
            return out, pos

        return Codec(enc, dec, 1)

    def _option(self, node: OptionNode) -> Codec:
        inner = self.codec(node.element)
        e, d = inner.enc, inner.dec
        read_tag = wire.read_option_tag

        def enc(v: Any, out: bytearray) -> None:
            if v is None:
                out.append(0)
            else:
                out.append(1)
                e(v, out)

        def dec(buf: bytes, pos: int) -> tuple[Any, int]:
            some, pos = read_tag(buf, pos)
            if some:
                return d(buf, pos)
            return None, pos

        return Codec(enc, dec, 1)

    def _result(self, node: ResultNode) -> Codec:
        okc, errc = self.codec(node.ok), self.codec(node.err)
        eo, ee, do, de = okc.enc, errc.enc, okc.dec, errc.dec
        read_index = wire.read_u32

        def enc(v: Any, out: bytearray) -> None:
            if type(v) is Ok:
                out.append(0)
                try:
                    eo(v.value, out)
                except EncodeError as exc:
                    raise exc.at("Ok") from None
            elif type(v) is Err:
                out.append(1)
                try:
                    ee(v.error, out)
                except EncodeError as exc:
                    raise exc.at("Err") from None
            else:
                raise _type_error(v, "Ok(...) or Err(...)")

        def dec(buf: bytes, pos: int) -> tuple[Any, int]:
            start = pos
            index, pos = read_index(buf, pos)
            if index == 0:
                x, pos = do(buf, pos)
                return Ok(x), pos
            if index == 1:
                x, pos = de(buf, pos)
                return Err(x), pos
            raise UnknownVariantError(start, f"Result has no variant {index}")

        return Codec(enc, dec, 1)

    def _struct(self, cls: type, fields: tuple[FieldInfo, ...], mapping: dict[Any, Any]) -> Codec:
        codecs = [self.codec(substitute(f.annotation, mapping)) for f in fields]
        enc = _struct_encoder(cls, fields, [c.enc for c in codecs], cls.__qualname__)
        dec = _struct_decoder(cls, fields, [c.dec for c in codecs])
        codec = Codec(enc, dec, 0)
        codec.min_size = sum(c.min_size for c in codecs)
        return codec

    def _rich_enum(self, cls: type, mapping: dict[Any, Any]) -> Codec:
        table: dict[type, tuple[int, Encoder]] = {}
        decoders: list[Decoder] = []
        for v in enum_variants(cls):
            codecs = [self.codec(substitute(f.annotation, mapping)) for f in v.fields]
            if v.kind == "unit":
                instance = v.cls()
                penc: Encoder = _nothing_enc
                pdec: Decoder = _constant_dec(instance)
            else:
                penc = _struct_encoder(v.cls, v.fields, [c.enc for c in codecs], v.cls.__qualname__, check=False)
                pdec = _struct_decoder(v.cls, v.fields, [c.dec for c in codecs])
            table[v.cls] = (v.index, penc)
            decoders.append(pdec)
        read_index = wire.read_u32
        n = len(decoders)
        name = cls.__qualname__

        def enc(v: Any, out: bytearray) -> None:
            try:
                index, penc = table[type(v)]
            except KeyError:
                raise _type_error(v, f"a variant of {name}") from None
            write_varint(out, index)
            penc(v, out)

        def dec(buf: bytes, pos: int) -> tuple[Any, int]:
            start = pos
            index, pos = read_index(buf, pos)
            if index >= n:
                raise UnknownVariantError(start, f"{name} has no variant {index}")
            return decoders[index](buf, pos)

        return Codec(enc, dec, 1 if n else 0)


def _nothing_enc(v: Any, out: bytearray) -> None:
    return None


def _constant_dec(value: Any) -> Decoder:
    def dec(buf: bytes, pos: int) -> tuple[Any, int]:
        return value, pos

    return dec


def _unit_enum(cls: type[enum.Enum]) -> Codec:
    members = list(cls)
    index = {m: i for i, m in enumerate(members)}
    n = len(members)
    name = cls.__qualname__

    def enc(v: Any, out: bytearray) -> None:
        if type(v) is not cls:
            raise _type_error(v, f"a member of {name}")
        write_varint(out, index[v])

    def dec(buf: bytes, pos: int) -> tuple[Any, int]:
        start = pos
        i, pos = wire.read_u32(buf, pos)
        if i >= n:
            raise UnknownVariantError(start, f"{name} has no variant {i}")
        return members[i], pos

    return Codec(enc, dec, 1 if n else 0)


def _struct_encoder(
    cls: type, fields: tuple[FieldInfo, ...], encs: list[Encoder], name: str, check: bool = True
) -> Encoder:
    """Generated code: one call per field, no loop; a wrong-typed value or field names its path."""
    ns: dict[str, Any] = {"cls": cls, "EncodeError": EncodeError, "_type_error": _type_error, "name": name}
    lines = ["def enc(v, out):"]
    if check:
        lines += [
            "    if v.__class__ is not cls and not isinstance(v, cls):",
            "        raise _type_error(v, 'a ' + name)",
        ]
    for i, f in enumerate(fields):
        ns[f"e{i}"] = encs[i]
        lines += [
            "    try:",
            f"        e{i}(v.{f.name}, out)",
            "    except EncodeError as exc:",
            f"        raise exc.at({f.name!r}) from None",
        ]
    if len(lines) == 1:
        lines.append("    pass")
    exec("\n".join(lines), ns)
    encoder: Encoder = ns["enc"]
    return encoder


def _struct_decoder(cls: type, fields: tuple[FieldInfo, ...], decs: list[Decoder]) -> Decoder:
    """Generated code: decode each field in order, then call the constructor once."""
    ns: dict[str, Any] = {"cls": cls, "InvalidValueError": InvalidValueError, "DecodeError": DecodeError}
    lines = ["def dec(buf, pos):", "    start = pos"]
    positional, keyword = [], []
    for i, f in enumerate(fields):
        ns[f"d{i}"] = decs[i]
        lines.append(f"    a{i}, pos = d{i}(buf, pos)")
        if f.kw_only:
            keyword.append(f"{f.name}=a{i}")
        else:
            positional.append(f"a{i}")
    args = positional + keyword
    lines += [
        "    try:",
        f"        return cls({', '.join(args)}), pos",
        "    except Exception as exc:",
        "        raise InvalidValueError(start, f'{cls.__qualname__} rejected the decoded fields: {exc!r}') from None",
    ]
    exec("\n".join(lines), ns)
    decoder: Decoder = ns["dec"]
    return decoder
