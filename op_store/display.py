"""How stored responses and schemas look to a person: shared by the admin and the inspection API.

Two things live here, both free of HTML and of the ORM so the admin and the API render the same:

* Rust-like type names and declarations (``struct Point { x: i32, y: i32 }``) computed from the
  schema model, as lists of classed tokens that the admin colours and the API joins into text;
* :func:`decode_response`: a sealed payload decoded through its stored schemas into JSON-able
  values. It never raises: a payload that cannot be decoded (schema missing, corrupt bytes, a
  codec that is not installed) gives an error next to the raw bytes, because an inspection tool
  that crashes on the very rows that need inspecting is useless.

An HTTP reply sealed by the request lifecycle (``HttpReply(status, headers, body)``) is recognised
by its root type and shown as status, headers and a body pretty-printed when it is JSON or text.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from op_store.http_reply import reply_schema
from op_store.vox.ids import format_hash
from op_store.vox.schema import (
    ArrayKind,
    ChannelDirection,
    ChannelKind,
    Concrete,
    EnumKind,
    FieldSchema,
    ListKind,
    MapKind,
    MissingSchemaIdError,
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
    schema_closure,
)

logger = logging.getLogger("op_store.display")

#: Above this many bytes the raw hex shown next to a payload is cut (the full size is still given).
HEX_LIMIT = 64 * 1024

# --- schema sources ----------------------------------------------------------------------------


class CachingSchemaSource:
    """Remembers every answer of another source, misses too, so one page asks each hash once.

    When the wrapped source has ``get_schemas`` (the ORM store's has), a schema's children are
    fetched in one batch as soon as the schema is: a closure walk then costs one query per schema
    with children, not one per schema.
    """

    def __init__(self, source: SchemaSource) -> None:
        self._source = source
        self._cache: dict[int, Schema | None] = {}

    def get_schema(self, schema_id: int, /) -> Schema | None:
        if schema_id not in self._cache:
            self._cache[schema_id] = self._source.get_schema(schema_id)
        schema = self._cache[schema_id]
        if schema is not None:
            self._prefetch(schema.child_ids())  # what a walk asks for next
        return schema

    def get_schemas(self, schema_ids: Iterable[int]) -> dict[int, Schema]:
        ids = list(schema_ids)
        self._prefetch(ids)
        return {i: s for i in ids if (s := self.get_schema(i)) is not None}

    def _prefetch(self, schema_ids: Iterable[int]) -> None:
        wanted = [i for i in dict.fromkeys(schema_ids) if i not in self._cache]
        batch = getattr(self._source, "get_schemas", None)
        if wanted and callable(batch):
            found = batch(wanted)
            for schema_id in wanted:
                self._cache[schema_id] = found.get(schema_id)


def caching(source: SchemaSource) -> CachingSchemaSource:
    """``source`` wrapped in a :class:`CachingSchemaSource` (unless it already is one)."""
    return source if isinstance(source, CachingSchemaSource) else CachingSchemaSource(source)


# --- tokens ------------------------------------------------------------------------------------

#: Token classes: ``kw`` keyword, ``type`` a type name, ``prim`` a primitive, ``field`` a field or
#: variant name, ``param`` a type parameter, ``num`` a number, ``punct`` punctuation, ``missing``
#: a schema the source lacks, ``ws`` whitespace.
Token = tuple[str, str]


def tokens_text(tokens: Iterable[Token]) -> str:
    """The plain text of a token list."""
    return "".join(text for _, text in tokens)


_PRIMITIVE_NAMES = {
    PrimitiveType.STRING: "String",
    PrimitiveType.UNIT: "()",
    PrimitiveType.NEVER: "!",
    PrimitiveType.BYTES: "Bytes",
    PrimitiveType.PAYLOAD: "Payload",
}


def primitive_name(primitive: PrimitiveType) -> str:
    """The Rust spelling of a vox primitive (``String``, ``()``, ``!``, else the tag itself)."""
    return _PRIMITIVE_NAMES.get(primitive, primitive.value)


def _generic(name: str, cls: str, args: Sequence[list[Token]]) -> list[Token]:
    out: list[Token] = [(cls, name)]
    if args:
        out.append(("punct", "<"))
        for i, arg in enumerate(args):
            if i:
                out.append(("punct", ", "))
            out.extend(arg)
        out.append(("punct", ">"))
    return out


def _tuple(elements: Sequence[list[Token]]) -> list[Token]:
    out: list[Token] = [("punct", "(")]
    for i, element in enumerate(elements):
        if i:
            out.append(("punct", ", "))
        out.extend(element)
    if len(elements) == 1:
        out.append(("punct", ","))
    out.append(("punct", ")"))
    return out


class _Namer:
    """Renders type references as Rust-like type expressions, substituting generic arguments."""

    def __init__(self, source: SchemaSource, depth_limit: int = 32) -> None:
        self.source = source
        self.depth_limit = depth_limit

    def ref(self, ref: TypeRef, env: Mapping[str, list[Token]] | None = None, depth: int = 0) -> list[Token]:
        if isinstance(ref, Var):
            if env and ref.name in env:
                return env[ref.name]
            return [("param", ref.name)]
        assert isinstance(ref, Concrete)
        args = [self.ref(a, env, depth + 1) for a in ref.args]
        if depth > self.depth_limit:
            return [("punct", "…")]
        schema = self.source.get_schema(ref.type_id)
        if schema is None:
            return _generic(f"#{format_hash(ref.type_id)}", "missing", args)
        inner = dict(zip(schema.type_params, args, strict=False))
        return self.kind_expr(schema, inner, args, depth)

    def kind_expr(
        self, schema: Schema, env: Mapping[str, list[Token]], args: Sequence[list[Token]], depth: int
    ) -> list[Token]:
        """The type expression of ``schema`` used with generic arguments ``env``."""
        kind = schema.kind
        if isinstance(kind, (StructKind, EnumKind)):
            return _generic(kind.name, "type", args)
        if isinstance(kind, PrimitiveKind):
            return [("prim", primitive_name(kind.primitive_type))]
        if isinstance(kind, ListKind):
            return _generic("Vec", "type", [self.ref(kind.element, env, depth + 1)])
        if isinstance(kind, OptionKind):
            return _generic("Option", "type", [self.ref(kind.element, env, depth + 1)])
        if isinstance(kind, MapKind):
            return _generic(
                "HashMap", "type", [self.ref(kind.key, env, depth + 1), self.ref(kind.value, env, depth + 1)]
            )
        if isinstance(kind, ArrayKind):
            return [
                ("punct", "["),
                *self.ref(kind.element, env, depth + 1),
                ("punct", "; "),
                ("num", str(kind.length)),
                ("punct", "]"),
            ]
        if isinstance(kind, TupleKind):
            return _tuple([self.ref(e, env, depth + 1) for e in kind.elements])
        assert isinstance(kind, ChannelKind)
        name = "Tx" if kind.direction is ChannelDirection.TX else "Rx"
        return _generic(name, "type", [self.ref(kind.element, env, depth + 1)])


def type_tokens(ref: TypeRef, source: SchemaSource) -> list[Token]:
    """``ref`` as a Rust-like type expression, e.g. ``Result<Vec<Point>, String>``."""
    return _Namer(source).ref(ref)


def type_name(ref: TypeRef, source: SchemaSource) -> str:
    """Plain-text :func:`type_tokens`; a schema the source lacks shows as ``#<16 hex digits>``."""
    return tokens_text(type_tokens(ref, source))


#: Declarations longer than this are laid out one field or variant per line.
ONE_LINE = 72


def _fields_tokens(namer: _Namer, fields: Sequence[FieldSchema]) -> list[list[Token]]:
    out = []
    for f in fields:
        item: list[Token] = []
        if not f.required:
            item += [("kw", "#[default]"), ("ws", " ")]
        item += [("field", f.name), ("punct", ": "), *namer.ref(f.type_ref)]
        out.append(item)
    return out


def _braced(head: list[Token], items: list[list[Token]], width: int = ONE_LINE) -> list[Token]:
    """``head { a, b }`` on one line when it fits ``width``, else one item per line."""
    if not items:
        return [*head, ("punct", " {}")]
    one_line = [*head, ("punct", " { ")]
    for i, item in enumerate(items):
        if i:
            one_line.append(("punct", ", "))
        one_line.extend(item)
    one_line.append(("punct", " }"))
    if len(tokens_text(one_line)) <= width:
        return one_line
    out = [*head, ("punct", " {"), ("ws", "\n")]
    for item in items:
        out += [("ws", "    "), *item, ("punct", ","), ("ws", "\n")]
    out.append(("punct", "}"))
    return out


def _params(schema: Schema) -> list[Token]:
    return _generic("", "type", [[("param", p)] for p in schema.type_params])[1:]


def declaration_tokens(schema: Schema, source: SchemaSource, *, width: int = ONE_LINE) -> list[Token]:
    """A Rust-like declaration of ``schema``: ``struct Point { x: i32, y: i32 }``,
    ``enum Result<T, E> { Ok(T), Err(E) }``; a container family shows as its generic type
    (``Vec<T>``), a primitive as itself. Wider than ``width``, one field or variant per line."""
    namer = _Namer(source)
    kind = schema.kind
    if isinstance(kind, StructKind):
        head: list[Token] = [("kw", "struct"), ("ws", " "), ("type", kind.name), *_params(schema)]
        return _braced(head, _fields_tokens(namer, kind.fields), width)
    if isinstance(kind, EnumKind):
        head = [("kw", "enum"), ("ws", " "), ("type", kind.name), *_params(schema)]
        items: list[list[Token]] = []
        for position, variant in enumerate(kind.variants):
            item: list[Token] = [("field", variant.name)]
            p = variant.payload
            if isinstance(p, NewtypePayload):
                item += [("punct", "("), *namer.ref(p.type_ref), ("punct", ")")]
            elif isinstance(p, TuplePayload):
                item += _tuple([namer.ref(t) for t in p.types])
            elif isinstance(p, StructPayload):
                item = _braced(item, _fields_tokens(namer, p.fields), width)
            if variant.index != position:
                item += [("punct", " = "), ("num", str(variant.index))]
            items.append(item)
        return _braced(head, items, width)
    env = {p: [("param", p)] for p in schema.type_params}
    return namer.kind_expr(schema, env, [[("param", p)] for p in schema.type_params], 0)


def declaration(schema: Schema, source: SchemaSource, *, width: int = ONE_LINE) -> str:
    """Plain-text :func:`declaration_tokens`."""
    return tokens_text(declaration_tokens(schema, source, width=width))


def schema_summary(schema: Schema) -> str:
    """A short label without lookups: ``struct Point``, ``enum Result<T, E>``, ``list<T>``, ``u32``."""
    kind = schema.kind
    params = f"<{', '.join(schema.type_params)}>" if schema.type_params else ""
    if isinstance(kind, (StructKind, EnumKind)):
        return f"{kind.tag} {kind.name}{params}"
    if isinstance(kind, PrimitiveKind):
        return kind.primitive_type.value
    return f"{kind.tag}{params}"


# --- closures ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClosureEntry:
    """One schema of a response's closure; ``schema`` is None when the source lacks it."""

    schema_id: int
    schema: Schema | None

    @property
    def hex(self) -> str:
        return format_hash(self.schema_id)


def closure_entries(root: TypeRef, source: SchemaSource) -> list[ClosureEntry]:
    """Every schema reachable from ``root`` (vox's :func:`~op_store.vox.schema.schema_closure`), the
    root type's own first; a schema the source lacks is listed as missing and the walk goes on past
    it (it has no known children). Lookups go through one cache, the root's ids in one batch when
    the source has ``get_schemas``."""
    source = caching(source)
    first = {schema_id: i for i, schema_id in enumerate(dict.fromkeys(root.collect_ids()))}
    source.get_schemas(first)
    missing: list[int] = []
    while True:  # once per missing schema: the cache answers the walks after the first
        try:
            found = schema_closure(root, source, skip=missing)
            break
        except MissingSchemaIdError as exc:
            missing.append(exc.schema_id)
    entries = [ClosureEntry(schema.id, schema) for schema in found]
    entries += [ClosureEntry(schema_id, None) for schema_id in missing]
    return sorted(entries, key=lambda entry: first.get(entry.schema_id, len(first)))


# --- HTTP replies ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HttpBody:
    """A reply body prepared for reading: ``encoding`` is ``json`` (``value`` is the parsed JSON),
    ``text`` (a str), ``base64`` (binary) or ``empty``."""

    encoding: str
    value: Any
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class HttpReplyView:
    """A sealed HTTP reply as status, headers and body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: HttpBody

    @property
    def reason(self) -> str:
        try:
            return HTTPStatus(self.status).phrase
        except ValueError:
            return ""

    def header(self, name: str) -> str:
        """The first header called ``name`` (any case), or ``""``."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), "")


def _is_json_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip('"')
    return "utf-8"


def _no_constants(name: str) -> Any:
    """``NaN``/``Infinity`` are not JSON (a strict renderer refuses them): show such a body as text."""
    raise ValueError(f"{name} is not JSON")


def render_body(body: bytes, content_type: str) -> HttpBody:
    """Parse ``body`` as JSON when its type says JSON (or it looks like JSON), else as text when it
    decodes, else keep it base64: readable whenever possible, never lossy."""
    if not body:
        return HttpBody("empty", "", content_type, 0)
    try:
        text = body.decode(_charset(content_type))
    except (UnicodeDecodeError, LookupError):
        return HttpBody("base64", base64.b64encode(body).decode("ascii"), content_type, len(body))
    stripped = text.lstrip()
    if _is_json_type(content_type) or (not content_type and stripped[:1] in ("{", "[")):
        try:
            return HttpBody("json", json.loads(text, parse_constant=_no_constants), content_type, len(body))
        except ValueError:
            pass
    return HttpBody("text", text, content_type, len(body))


_HTTP_REPLY_FIELDS = ("status", "headers", "body")


def http_reply_type() -> TypeRef:
    """The root type of the request lifecycle's sealed ``HttpReply`` (:mod:`op_store.http_reply`)."""
    return reply_schema()[0]


def is_http_reply(root: TypeRef) -> bool:
    """Whether ``root`` is the type of a sealed HTTP reply (schemas are content-addressed, so a
    type with the same hash is the same struct: same name, fields and field types)."""
    return root == http_reply_type()


def http_reply_view(value: Any) -> HttpReplyView | None:
    """Turn the generic decoding of an ``HttpReply`` into a view; None if it has another shape."""
    if not isinstance(value, Mapping) or tuple(value) != _HTTP_REPLY_FIELDS:
        return None
    status, headers, body = value["status"], value["headers"], value["body"]
    if not isinstance(status, int) or not isinstance(headers, list):
        return None
    pairs = tuple((str(h[0]), str(h[1])) for h in headers if isinstance(h, (list, tuple)) and len(h) == 2)
    raw = bytes_value(body)
    if raw is None:
        return None
    view = HttpReplyView(status, pairs, HttpBody("empty", "", "", 0))
    return HttpReplyView(status, pairs, render_body(raw, view.header("Content-Type")))


def bytes_value(value: Any) -> bytes | None:
    """Bytes back from the codec's JSON form of ``bytes`` (see ``decode_ref``)."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        try:
            return bytes.fromhex(value)
        except ValueError:
            try:
                return base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                return None
    if isinstance(value, list) and all(isinstance(b, int) and 0 <= b <= 255 for b in value):
        return bytes(value)
    return None


# --- Result replies --------------------------------------------------------------------------

_RESULT_VARIANTS = ("Ok", "Err")


@functools.cache
def result_type_ids() -> frozenset[int]:
    """The hashes of vox's generic ``Result<T, E>`` schema. The arguments are in the root type, not
    in the schema, so there are only two: vox (and ``schema_for``) turns every payload equal to the
    first type argument into that parameter, so ``Result<T, T>`` has a schema of its own."""
    from op_store.vox import Result, schema_for

    roots = (schema_for(Result[bool, str])[0], schema_for(Result[bool, bool])[0])
    assert all(isinstance(root, Concrete) for root in roots)
    return frozenset(root.type_id for root in roots if isinstance(root, Concrete))


def is_result(root: TypeRef | None) -> bool:
    """Whether ``root`` is a ``Result<T, E>`` (every RPC reply is one)."""
    return isinstance(root, Concrete) and root.type_id in result_type_ids()


def reply_variant(root_type: Any, head: bytes | memoryview | None) -> str | None:
    """``"Ok"`` or ``"Err"`` for a sealed ``Result`` from the first byte of its payload alone (postcard
    writes an enum's variant index first: 0 is Ok, 1 is Err); None for any other reply."""
    if not head or not is_result(parse_root_type(root_type)):
        return None
    index = bytes(head)[0]
    return _RESULT_VARIANTS[index] if index < len(_RESULT_VARIANTS) else None


# --- decoding ----------------------------------------------------------------------------------


@dataclass
class DecodedResponse:
    """A stored payload, decoded when possible.

    ``value`` is the JSON-able decoding (see ``op_store.vox.decode_ref``); when decoding failed,
    ``error`` says why and the caller shows :attr:`hex` next to it. ``http`` is set for sealed HTTP
    replies. ``closure`` lists the schemas of the root type, missing ones included.
    """

    raw: bytes
    root_type: TypeRef | None
    type_name: str = ""
    value: Any = None
    error: str | None = None
    error_type: str | None = None
    http: HttpReplyView | None = None
    closure: list[ClosureEntry] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def size(self) -> int:
        return len(self.raw)

    @property
    def hex(self) -> str:
        """The raw bytes in hex, cut at :data:`HEX_LIMIT` bytes."""
        return self.raw[:HEX_LIMIT].hex()

    @property
    def hex_truncated(self) -> bool:
        return len(self.raw) > HEX_LIMIT

    @property
    def result_variant(self) -> str | None:
        """``"Ok"`` or ``"Err"`` when the reply is a decoded ``Result`` (an RPC reply), else None."""
        if self.error is not None or not is_result(self.root_type) or not isinstance(self.value, Mapping):
            return None
        variant = self.value.get("variant")
        return variant if variant in _RESULT_VARIANTS else None

    @property
    def kind(self) -> str:
        """``http``, ``value``, or ``error``."""
        if self.error is not None:
            return "error"
        return "http" if self.http is not None else "value"


def parse_root_type(data: Any) -> TypeRef | None:
    """A stored root type (``TypeRef.to_json`` form, or already a TypeRef), None when unreadable."""
    if isinstance(data, TypeRef):
        return data
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return None
    if not isinstance(data, Mapping):
        return None
    try:
        return TypeRef.from_json(data)
    except (KeyError, TypeError, ValueError):
        return None


def decode_response(raw: bytes | memoryview | None, root_type: Any, source: SchemaSource) -> DecodedResponse:
    """Decode a sealed payload through ``source``; never raises (errors are reported in the result).

    ``root_type`` is a :class:`TypeRef` or its JSON form as stored. Lookups are cached for the
    call (and batched per level of the closure when ``source`` has ``get_schemas``).
    """
    data = bytes(raw) if raw is not None else b""
    root = parse_root_type(root_type)
    result = DecodedResponse(raw=data, root_type=root)
    if root is None:
        result.error, result.error_type = "the stored root type is missing or unreadable", "invalid_root_type"
        return result
    source = caching(source)
    try:
        result.closure = closure_entries(root, source)  # batched: warms the cache for the rest
        result.type_name = type_name(root, source)
    except Exception as exc:  # a broken schema row must not hide the payload
        logger.warning("cannot describe root type %r: %s", root, exc)
        result.type_name = repr(root)
    missing = [entry.hex for entry in result.closure if entry.schema is None]
    if missing:
        result.error = f"schema {', '.join(missing)} is missing from the store, so the payload cannot be decoded"
        result.error_type = "missing_schema"
        return result
    if raw is None:
        result.error, result.error_type = "there is no sealed payload", "no_payload"
        return result
    try:
        from op_store.vox import decode_ref
    except ImportError as exc:  # pragma: no cover - the codec ships with the package
        result.error, result.error_type = f"the vox codec is unavailable: {exc}", "no_codec"
        return result
    try:
        result.value = decode_ref(data, root, source)
    except MissingSchemaIdError as exc:
        result.error, result.error_type = str(exc), "missing_schema"
        return result
    except Exception as exc:  # DecodeError, and anything a corrupt schema row could provoke
        result.error = str(exc) or type(exc).__name__
        result.error_type = _error_type(exc)
        return result
    if is_http_reply(root):
        result.http = http_reply_view(result.value)
    return result


def _error_type(exc: Exception) -> str:
    from op_store.vox.errors import DecodeError, UnknownSchemaError

    if isinstance(exc, UnknownSchemaError):
        return "missing_schema"
    if isinstance(exc, DecodeError):
        return "decode_error"
    logger.warning("unexpected error while decoding a stored payload", exc_info=exc)
    return "internal_error"
