"""Typed values from JSON: the inverse of ``decode_ref``'s JSON shapes, for RPC arguments sent as JSON.

A JSON caller (curl, a browser, another language) writes arguments in the same shapes the server
answers in (see :mod:`op_store.vox.dynamic`), and :func:`from_json` turns them into the values the
annotation's codec expects:

- integers: a JSON number (or a string of decimal digits, for 64/128-bit values JavaScript cannot
  hold); floats: a number or ``"NaN"``, ``"Infinity"``, ``"-Infinity"``; bool: ``true``/``false``
- string, char: a string; bytes, payload: a hex string; unit: ``null``
- struct: an object of field name -> value (fields with a default may be left out)
- enum (``enum.Enum``, ``VoxEnum``, ``Result``): ``{"variant": "<name>", "value": <payload>}``, or
  just ``"<name>"`` for a unit variant; the payload is the value (newtype), an array (tuple) or an
  object (struct)
- option: ``null`` or the value; list, set, array, tuple: an array
- map: an object when keys are strings, else an array of ``[key, value]`` pairs

Ranges (a u8 above 255...) are checked by the codec when the value is encoded. Anything else raises
:class:`JsonValueError` naming where in the value it is. No Django import.
"""

from __future__ import annotations

from typing import Any

from op_store.vox import Err, Ok, PrimitiveType
from op_store.vox.typeinfo import (
    ArrayNode,
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
    enum_variants,
    struct_fields,
    substitute,
    type_params,
)

_P = PrimitiveType
_INTS = frozenset(p for p in PrimitiveType if p.value[0] in "ui" and p.value[1:].isdigit())
_FLOAT_WORDS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


class JsonValueError(ValueError):
    """A JSON value that does not fit the annotation; ``path`` says where (``$.to[2].amount``)."""

    def __init__(self, message: str, path: str = "$") -> None:
        super().__init__(f"{message} (at {path})")
        self.path = path


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def from_json(value: Any, tp: Any, path: str = "$") -> Any:
    """The value of annotation ``tp`` that the JSON value ``value`` (as ``json.loads`` gives it) spells."""
    try:
        return _convert(value, tp, path)
    except RecursionError:
        raise JsonValueError("value nested too deeply", path) from None


def _convert(value: Any, tp: Any, path: str) -> Any:
    node = classify(tp)
    if isinstance(node, PrimNode):
        if node.empty_tuple:
            if value is None or value == []:
                return ()
            raise JsonValueError(f"expected null or [], got {_kind(value)}", path)
        return _primitive(value, node.prim, path)
    if isinstance(node, SeqNode | ArrayNode | TupleNode):
        if not isinstance(value, list):
            raise JsonValueError(f"expected an array, got {_kind(value)}", path)
        if isinstance(node, TupleNode):
            if len(value) != len(node.elements):
                raise JsonValueError(f"expected an array of {len(node.elements)} items, got {len(value)}", path)
            return tuple(
                _convert(v, t, f"{path}[{i}]") for i, (v, t) in enumerate(zip(value, node.elements, strict=True))
            )
        items = [_convert(v, node.element, f"{path}[{i}]") for i, v in enumerate(value)]
        if isinstance(node, ArrayNode):
            return tuple(items)
        try:
            return node.container(items)
        except TypeError as exc:  # unhashable set elements
            raise JsonValueError(str(exc), path) from None
    if isinstance(node, MapNode):
        return _map(value, node, path)
    if isinstance(node, OptionNode):
        return None if value is None else _convert(value, node.element, path)
    if isinstance(node, ResultNode):
        name, payload = _variant(value, path)
        if name == "Ok":
            return Ok(_convert(payload, node.ok, f"{path}.value"))
        if name == "Err":
            return Err(_convert(payload, node.err, f"{path}.value"))
        raise JsonValueError(f"Result has no variant {name!r} (Ok or Err)", path)
    if isinstance(node, StructNode):
        mapping = dict(zip(type_params(node.cls), node.args, strict=False))
        return _struct(value, node.cls, struct_fields(node.cls), mapping, path)
    if isinstance(node, UnitEnumNode):
        name, payload = _variant(value, path)
        member = next((m for m in node.cls if m.name == name), None)
        if member is None:
            raise JsonValueError(f"{node.cls.__name__} has no variant {name!r}", path)
        if payload is not None:
            raise JsonValueError(f"variant {name} carries no value", path)
        return member
    if isinstance(node, RichEnumNode):
        return _rich_enum(value, node, path)
    if isinstance(node, VarNode):
        raise JsonValueError(f"unbound type variable {node.var}", path)
    raise JsonValueError(f"cannot read {tp!r} from JSON", path)  # pragma: no cover


def _primitive(value: Any, prim: PrimitiveType, path: str) -> Any:
    if prim in _INTS:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lstrip("-").isdigit() and value.isascii() and len(value) <= 40:
            return int(value)
        raise JsonValueError(f"expected an integer ({prim.value}), got {_kind(value)}", path)
    if prim in (_P.F32, _P.F64):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and value in _FLOAT_WORDS:
            return _FLOAT_WORDS[value]
        raise JsonValueError(f"expected a number ({prim.value}), got {_kind(value)}", path)
    if prim is _P.BOOL:
        if isinstance(value, bool):
            return value
        raise JsonValueError(f"expected true or false, got {_kind(value)}", path)
    if prim in (_P.STRING, _P.CHAR):
        if isinstance(value, str):
            return value
        raise JsonValueError(f"expected a string ({prim.value}), got {_kind(value)}", path)
    if prim in (_P.BYTES, _P.PAYLOAD):
        if isinstance(value, str):
            try:
                return bytes.fromhex(value)
            except ValueError:
                raise JsonValueError("expected bytes as a hex string", path) from None
        raise JsonValueError(f"expected bytes as a hex string, got {_kind(value)}", path)
    if prim is _P.UNIT:
        if value is None:
            return None
        raise JsonValueError(f"expected null (unit), got {_kind(value)}", path)
    raise JsonValueError("never has no values", path)


def _map(value: Any, node: MapNode, path: str) -> dict[Any, Any]:
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, list) and all(isinstance(p, list) and len(p) == 2 for p in value):
        pairs = [(p[0], p[1]) for p in value]
    else:
        raise JsonValueError(f"expected an object or an array of [key, value] pairs, got {_kind(value)}", path)
    out: dict[Any, Any] = {}
    for i, (k, v) in enumerate(pairs):
        key = _convert(k, node.key, f"{path}[{i}][0]")
        try:
            if key in out:
                raise JsonValueError(f"duplicate map key {k!r}", path)
        except TypeError:
            raise JsonValueError(f"map key {k!r} is not hashable", path) from None
        out[key] = _convert(v, node.value, f"{path}[{k!r}]")
    return out


def _variant(value: Any, path: str) -> tuple[str, Any]:
    if isinstance(value, str):
        return value, None
    if isinstance(value, dict) and isinstance(value.get("variant"), str) and set(value) <= {"variant", "value"}:
        return value["variant"], value.get("value")
    raise JsonValueError(
        f'expected {{"variant": <name>, "value": <payload>}} or a variant name, got {_kind(value)}', path
    )


def _struct(value: Any, cls: type, fields: Any, mapping: dict[Any, Any], path: str) -> Any:
    if not isinstance(value, dict):
        raise JsonValueError(f"expected an object ({cls.__name__}), got {_kind(value)}", path)
    names = {f.name for f in fields}
    unknown = sorted(set(value) - names)
    if unknown:
        raise JsonValueError(f"{cls.__name__} has no field {unknown[0]!r}", path)
    kwargs = {}
    for f in fields:
        if f.name in value:
            kwargs[f.name] = _convert(value[f.name], substitute(f.annotation, mapping), f"{path}.{f.name}")
        elif f.required:
            raise JsonValueError(f"{cls.__name__} needs the field {f.name!r}", path)
    try:
        return cls(**kwargs)
    except Exception as exc:
        raise JsonValueError(f"{cls.__name__} rejected the fields: {exc}", path) from None


def _rich_enum(value: Any, node: RichEnumNode, path: str) -> Any:
    name, payload = _variant(value, path)
    mapping = dict(zip(type_params(node.cls), node.args, strict=False))
    variant = next((v for v in enum_variants(node.cls) if v.name == name), None)
    if variant is None:
        raise JsonValueError(f"{node.cls.__name__} has no variant {name!r}", path)
    inner = f"{path}.value"
    if variant.kind == "unit":
        if payload is not None:
            raise JsonValueError(f"variant {name} carries no value", path)
        return variant.cls()
    if variant.kind == "newtype":
        return variant.cls(_convert(payload, substitute(variant.fields[0].annotation, mapping), inner))
    if variant.kind == "tuple":
        if not isinstance(payload, list) or len(payload) != len(variant.fields):
            raise JsonValueError(f"variant {name} needs an array of {len(variant.fields)} values", inner)
        return variant.cls(
            *(
                _convert(v, substitute(f.annotation, mapping), f"{inner}[{i}]")
                for i, (v, f) in enumerate(zip(payload, variant.fields, strict=True))
            )
        )
    return _struct(payload, variant.cls, variant.fields, mapping, inner)


def args_from_json(value: Any, params: Any) -> tuple[Any, ...]:
    """The argument tuple of a method from a JSON array (positional) or object (named; defaults apply).

    ``params`` are the method's :class:`~op_store.rpc.service.Param` objects; a parameter declared
    ``from_`` may be sent as ``"from"``.
    """
    if isinstance(value, list):
        if len(value) > len(params):
            raise JsonValueError(f"expected at most {len(params)} arguments, got {len(value)}")
        out: list[Any] = []
        for i, p in enumerate(params):
            if i < len(value):
                out.append(_convert(value[i], p.annotation, f"$[{i}]"))
            elif p.required:
                raise JsonValueError(f"missing argument {p.json_names[-1]!r}")
            else:
                out.append(p.default)
        return tuple(out)
    if isinstance(value, dict):
        known = {name: p for p in params for name in p.json_names}
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise JsonValueError(f"no argument named {unknown[0]!r}")
        named: list[Any] = []
        for p in params:
            given = [n for n in p.json_names if n in value]
            if len(given) > 1:
                raise JsonValueError(f"argument {p.name!r} given twice ({' and '.join(given)})")
            if given:
                named.append(_convert(value[given[0]], p.annotation, f"$.{given[0]}"))
            elif p.required:
                raise JsonValueError(f"missing argument {p.json_names[-1]!r}")
            else:
                named.append(p.default)
        return tuple(named)
    if value is None and not params:
        return ()
    raise JsonValueError(f"expected the arguments as an object or an array, got {_kind(value)}")
