"""Property tests: round trips over generated annotations and values, and decoders that never raise
anything but ``DecodeError`` (nor hang) on arbitrary bytes."""

from __future__ import annotations

import enum
import functools
import itertools
import json
import math
import random
import time
from dataclasses import dataclass, make_dataclass
from typing import Any, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from op_store.vox import (
    F32,
    F64,
    I8,
    I16,
    I32,
    I64,
    I128,
    U8,
    U16,
    U32,
    U64,
    U128,
    Char,
    DecodeError,
    Err,
    Ok,
    Payload,
    Result,
    Unit,
    Variant,
    VoxEnum,
    decode,
    decode_ref,
    encode,
    fixed_array,
    schema_closure,
    schema_for,
)
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
    classify,
    enum_variants,
    struct_fields,
)


class Color(enum.Enum):
    RED = "r"
    GREEN = "g"
    BLUE = "b"


class Shape(VoxEnum):
    Empty = Variant()
    Circle = Variant(F64)
    Segment = Variant(I32, U8)
    Named = Variant(name=str, size=U16)


def ints(bits: int, signed: bool) -> st.SearchStrategy[int]:
    if signed:
        return st.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    return st.integers(0, (1 << bits) - 1)


finite_f64 = st.floats(allow_nan=False)
# (annotation, values, hashable?) -- hashable leaves may be map keys and set elements.
LEAVES: list[tuple[Any, st.SearchStrategy[Any], bool]] = [
    (bool, st.booleans(), True),
    (int, ints(64, True), True),
    (float, finite_f64, True),
    (str, st.text(max_size=12), True),
    (bytes, st.binary(max_size=12), True),
    (None, st.none(), True),
    (Unit, st.none(), True),
    (U8, ints(8, False), True),
    (U16, ints(16, False), True),
    (U32, ints(32, False), True),
    (U64, ints(64, False), True),
    (U128, ints(128, False), True),
    (I8, ints(8, True), True),
    (I16, ints(16, True), True),
    (I32, ints(32, True), True),
    (I64, ints(64, True), True),
    (I128, ints(128, True), True),
    (F32, st.floats(width=32, allow_nan=False), True),
    (F64, finite_f64, True),
    (Char, st.characters(exclude_categories=("Cs",)), True),
    (Payload, st.binary(max_size=12), True),
    (Color, st.sampled_from(Color), True),
    (
        Shape,
        st.one_of(
            st.just(Shape.Empty()),
            st.builds(Shape.Circle, finite_f64),
            st.builds(Shape.Segment, ints(32, True), ints(8, False)),
            st.builds(Shape.Named, name=st.text(max_size=5), size=ints(16, False)),
        ),
        True,
    ),
]

_names = itertools.count()

Pair = tuple[Any, st.SearchStrategy[Any]]


def leaf(hashable_only: bool = False) -> st.SearchStrategy[Pair]:
    return st.sampled_from([(tp, values) for tp, values, hashable in LEAVES if hashable or not hashable_only])


def keys() -> st.SearchStrategy[Pair]:
    """Hashable annotations: leaves and fixed tuples of leaves."""
    tuples = st.lists(leaf(True), min_size=1, max_size=3).map(
        lambda parts: (tuple[tuple(tp for tp, _ in parts)], st.tuples(*(v for _, v in parts)))
    )
    return st.one_of(leaf(True), tuples)


def make_struct(parts: list[Pair]) -> Pair:
    cls = make_dataclass(f"Gen{next(_names)}", [(f"f{i}", tp) for i, (tp, _) in enumerate(parts)])
    return cls, st.tuples(*(v for _, v in parts)).map(lambda args: cls(*args))


def extend(children: st.SearchStrategy[Pair]) -> st.SearchStrategy[Pair]:
    return st.one_of(
        children.map(lambda c: (list[c[0]], st.lists(c[1], max_size=4))),  # type: ignore[name-defined]
        children.map(lambda c: (tuple[c[0], ...], st.lists(c[1], max_size=4).map(tuple))),  # type: ignore[name-defined]
        children.map(lambda c: (Optional[c[0]], st.none() | c[1])),  # noqa: UP045
        st.tuples(children, st.integers(0, 3)).map(
            lambda c: (fixed_array(c[0][0], c[1]), st.lists(c[0][1], min_size=c[1], max_size=c[1]).map(tuple))
        ),
        st.lists(children, min_size=1, max_size=4).map(
            lambda parts: (tuple[tuple(tp for tp, _ in parts)], st.tuples(*(v for _, v in parts)))
        ),
        st.tuples(keys(), children).map(
            lambda kv: (dict[kv[0][0], kv[1][0]], st.dictionaries(kv[0][1], kv[1][1], max_size=4))  # type: ignore[name-defined]
        ),
        keys().map(lambda k: (frozenset[k[0]], st.frozensets(k[1], max_size=4))),  # type: ignore[name-defined]
        keys().map(lambda k: (set[k[0]], st.sets(k[1], max_size=4))),  # type: ignore[name-defined]
        st.tuples(children, children).map(
            lambda oe: (Result[oe[0][0], oe[1][0]], st.builds(Ok, oe[0][1]) | st.builds(Err, oe[1][1]))
        ),
        st.lists(children, min_size=0, max_size=4).map(make_struct),
    )


TYPES: st.SearchStrategy[Pair] = st.recursive(leaf(), extend, max_leaves=8)


# Hand-written recursive types, with value strategies that terminate.
@dataclass
class Tree:
    label: U8
    children: list[Tree]


@dataclass
class Ping:
    n: I16
    pong: Pong | None


@dataclass
class Pong:
    pings: list[Ping]


trees = st.deferred(lambda: st.builds(Tree, ints(8, False), st.lists(trees, max_size=3)))
pings: st.SearchStrategy[Ping] = st.deferred(
    lambda: st.builds(Ping, ints(16, True), st.none() | st.builds(Pong, st.lists(pings, max_size=2)))
)
RECURSIVE: list[Pair] = [(Tree, trees), (Ping, pings), (list[Ping], st.lists(pings, max_size=3))]


def expected_json(value: Any, tp: Any) -> Any:
    """What decode_ref must return for ``value`` (the documented shapes), computed from the value."""
    node = classify(tp)
    if isinstance(node, PrimNode):
        if isinstance(value, bytes):
            return value.hex()
        if isinstance(value, float) and not math.isfinite(value):
            return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        return None if node.empty_tuple else value
    if isinstance(node, SeqNode):
        items = list(value)
        if node.container in (set, frozenset):  # written in the order of their encodings
            items.sort(key=lambda x: encode(x, node.element))
        return [expected_json(x, node.element) for x in items]
    if isinstance(node, ArrayNode):
        return [expected_json(x, node.element) for x in value]
    if isinstance(node, TupleNode):
        return [expected_json(x, t) for x, t in zip(value, node.elements, strict=True)]
    if isinstance(node, MapNode):
        key_node = classify(node.key)
        pairs = [(expected_json(k, node.key), expected_json(v, node.value)) for k, v in value.items()]
        if isinstance(key_node, PrimNode) and key_node.prim.value in ("string", "char"):
            return dict(pairs)
        return [list(p) for p in pairs]
    if isinstance(node, OptionNode):
        return None if value is None else expected_json(value, node.element)
    if isinstance(node, ResultNode):
        if isinstance(value, Ok):
            return {"variant": "Ok", "value": expected_json(value.value, node.ok)}
        return {"variant": "Err", "value": expected_json(value.error, node.err)}
    if isinstance(node, UnitEnumNode):
        return {"variant": value.name, "value": None}
    if isinstance(node, StructNode):
        return {f.name: expected_json(getattr(value, f.name), f.annotation) for f in struct_fields(node.cls)}
    if isinstance(node, RichEnumNode):
        (variant,) = [v for v in enum_variants(node.cls) if v.cls is type(value)]
        fields = [(f.name, expected_json(getattr(value, f.name), f.annotation)) for f in variant.fields]
        payload: Any = {
            "unit": None,
            "newtype": fields[0][1] if fields else None,
            "tuple": [v for _, v in fields],
            "struct": dict(fields),
        }[variant.kind]
        return {"variant": variant.name, "value": payload}
    raise AssertionError(f"no expectation for {tp}")


def check_round_trip(tp: Any, value: Any) -> None:
    data = encode(value, tp)
    assert encode(value, tp) == data  # deterministic
    decoded = decode(data, tp)
    assert decoded == value
    assert type(decoded) is type(value) or value is None
    root, registry = schema_for(tp)
    assert {s.id for s in schema_closure(root, registry)} == set(registry)
    as_json = decode_ref(data, root, registry)
    assert as_json == expected_json(value, tp)
    json.dumps(as_json)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pair=TYPES, data=st.data())
def test_round_trip_over_generated_types(pair: Pair, data: st.DataObject) -> None:
    tp, values = pair
    check_round_trip(tp, data.draw(values, label=f"value of {tp!r}"))


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_round_trip_recursive_types(data: st.DataObject) -> None:
    tp, values = data.draw(st.sampled_from(RECURSIVE))
    check_round_trip(tp, data.draw(values))


# --- arbitrary bytes ----------------------------------------------------------------------------

BYTES_PER_TYPE = 100
TYPES_FOR_FUZZ = 1000  # x BYTES_PER_TYPE = 100_000 typed decodes; decode_ref (slower, interpretive) gets half


def fuzz_inputs(rng: random.Random, seed_bytes: bytes) -> list[bytes]:
    """Random bytes, plus mutations of a valid encoding (truncated, extended, bytes flipped)."""
    out = []
    for i in range(BYTES_PER_TYPE):
        choice = i % 4
        if choice == 0 or not seed_bytes:
            out.append(rng.randbytes(rng.randint(0, 24)))
        elif choice == 1:
            out.append(seed_bytes[: rng.randint(0, len(seed_bytes))])
        elif choice == 2:
            out.append(seed_bytes + rng.randbytes(rng.randint(1, 4)))
        else:
            mutated = bytearray(seed_bytes)
            for _ in range(rng.randint(1, 3)):
                mutated[rng.randrange(len(mutated))] = rng.choice((0x00, 0x01, 0x7F, 0x80, 0xFF, rng.randrange(256)))
            out.append(bytes(mutated))
    return out


def only_decode_errors(decoder: Any, inputs: list[bytes]) -> None:
    for blob in inputs:
        try:
            decoder(blob)
        except DecodeError as exc:
            assert 0 <= exc.offset <= len(blob), (blob, exc)


@pytest.mark.slow
@settings(max_examples=TYPES_FOR_FUZZ, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pair=TYPES, data=st.data(), seed=st.integers(0, 2**32))
def test_decode_of_arbitrary_bytes_raises_only_decode_error(pair: Pair, data: st.DataObject, seed: int) -> None:
    tp, values = pair
    valid = encode(data.draw(values), tp)
    only_decode_errors(lambda blob: decode(blob, tp), fuzz_inputs(random.Random(seed), valid))


@pytest.mark.slow
@settings(max_examples=TYPES_FOR_FUZZ // 2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pair=TYPES, data=st.data(), seed=st.integers(0, 2**32))
def test_decode_ref_of_arbitrary_bytes_raises_only_decode_error(pair: Pair, data: st.DataObject, seed: int) -> None:
    tp, values = pair
    valid = encode(data.draw(values), tp)
    root, registry = schema_for(tp)
    only_decode_errors(lambda blob: decode_ref(blob, root, registry), fuzz_inputs(random.Random(seed), valid))


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**32))
def test_recursive_types_on_arbitrary_bytes(data: st.DataObject, seed: int) -> None:
    tp, values = data.draw(st.sampled_from(RECURSIVE))
    valid = encode(data.draw(values), tp)
    root, registry = schema_for(tp)
    inputs = fuzz_inputs(random.Random(seed), valid)
    only_decode_errors(lambda blob: decode(blob, tp), inputs)
    only_decode_errors(lambda blob: decode_ref(blob, root, registry), inputs)


def test_fuzz_budget_holds_on_adversarial_prefixes() -> None:
    # Long runs of continuation bytes and huge counts must fail fast for every leaf type.
    started = time.perf_counter()
    blobs = [b"\xff" * n for n in range(1, 40)] + [b"\x80" * n + b"\x01" for n in range(1, 40)]
    for leaf_tp, _, _ in LEAVES:
        for tp in (leaf_tp, list[leaf_tp], dict[U8, leaf_tp]):  # type: ignore[valid-type]
            only_decode_errors(functools.partial(_decode_swapped, tp), blobs)
    assert time.perf_counter() - started < 10


def _decode_swapped(tp: Any, blob: bytes) -> Any:
    return decode(blob, tp)
