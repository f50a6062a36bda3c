"""decode_response, HTTP reply rendering and the HTML colouring, over in-memory schema registries."""

from dataclasses import dataclass

import pytest

from op_store.admin.chart import Bar, bar_chart_svg
from op_store.admin.highlight import json_html, tokens_html
from op_store.display import (
    HEX_LIMIT,
    CachingSchemaSource,
    declaration_tokens,
    decode_response,
    http_reply_type,
    is_http_reply,
    render_body,
)
from op_store.lifecycle.reply import HttpReply, encode_reply, reply_schema
from op_store.vox import I32, Err, Ok, Result, SchemaRegistry, encode, schema_for
from tests.support.display import Point, Shape


def _api_form(decoded):
    """The decoded payload as the inspection API sends it."""
    from op_store.api.serializers import DecodedResponseSerializer

    return DecodedResponseSerializer(decoded).data


def _decode(value, tp, *, registry=None, data=None):
    root, reg = schema_for(tp)
    return decode_response(encode(value, tp) if data is None else data, root.to_json(), registry or reg)


@pytest.mark.parametrize(
    ("value", "tp", "expected", "type_name"),
    [
        (Point(3, -4), Point, {"x": 3, "y": -4}, "Point"),
        (Shape.Rect(w=3, h=4), Shape, {"variant": "Rect", "value": {"w": 3, "h": 4}}, "Shape"),
        (Shape.Empty(), Shape, {"variant": "Empty", "value": None}, "Shape"),
        (Shape.Segment(1, 2), Shape, {"variant": "Segment", "value": [1, 2]}, "Shape"),
        ([Point(1, 2), Point(5, 6)], list[Point], [{"x": 1, "y": 2}, {"x": 5, "y": 6}], "Vec<Point>"),
        ({"a": 1, "b": 2}, dict[str, int], {"a": 1, "b": 2}, "HashMap<String, i64>"),
        ({1: "x"}, dict[I32, str], [[1, "x"]], "HashMap<i32, String>"),
        (None, Point | None, None, "Option<Point>"),
        (Point(7, 8), Point | None, {"x": 7, "y": 8}, "Option<Point>"),
        (Ok(Point(1, 1)), Result[Point, str], {"variant": "Ok", "value": {"x": 1, "y": 1}}, "Result<Point, String>"),
        (Err("nope"), Result[Point, str], {"variant": "Err", "value": "nope"}, "Result<Point, String>"),
        ((1, "a"), tuple[I32, str], [1, "a"], "(i32, String)"),
        (b"\x00\x01", bytes, "0001", "Bytes"),
    ],
)
def test_values_decode_to_json_through_their_schemas(value, tp, expected, type_name):
    decoded = _decode(value, tp)
    assert decoded.ok, decoded.error
    assert decoded.kind == "value"
    assert decoded.value == expected
    assert decoded.type_name == type_name
    out = _api_form(decoded)
    assert out["value"] == expected and out["error"] is None and "hex" not in out
    assert {entry.schema_id for entry in decoded.closure} == set(schema_for(tp)[1])


def test_an_http_reply_is_shown_as_status_headers_and_a_pretty_body():
    root, registry = reply_schema()
    assert is_http_reply(root) and root == http_reply_type()
    data = encode_reply(HttpReply(201, [("Content-Type", "application/json"), ("Location", "/o/1")], b'{"id": 1}'))
    decoded = decode_response(data, root, registry)
    assert decoded.kind == "http"
    http = decoded.http
    assert http is not None
    assert (http.status, http.reason, http.header("location")) == (201, "Created", "/o/1")
    assert http.body.encoding == "json" and http.body.value == {"id": 1}
    out = _api_form(decoded)
    assert out["value"] is None
    assert out["http"]["headers"] == [["Content-Type", "application/json"], ["Location", "/o/1"]]
    assert out["http"]["body"] == {
        "encoding": "json",
        "content_type": "application/json",
        "size": 9,
        "value": {"id": 1},
    }


def test_a_struct_that_only_looks_like_an_http_reply_is_a_plain_value():
    @dataclass
    class Lookalike:
        status: I32
        headers: list[tuple[str, str]]
        body: bytes

    decoded = _decode(Lookalike(200, [], b"x"), Lookalike)
    assert decoded.kind == "value" and decoded.http is None


@pytest.mark.parametrize(
    ("body", "content_type", "encoding", "value"),
    [
        (b'{"a": [1, 2]}', "application/json", "json", {"a": [1, 2]}),
        (b'{"a": 1}', "application/problem+json", "json", {"a": 1}),
        (b"[1]", "", "json", [1]),
        (b"{not json", "application/json", "text", "{not json"),
        (b'{"a": NaN}', "application/json", "text", '{"a": NaN}'),
        (b"hello", "text/plain", "text", "hello"),
        ("h\u00e9".encode("latin-1"), "text/plain; charset=latin-1", "text", "h\u00e9"),
        (b"\xff\xfe\x00", "application/octet-stream", "base64", "//4A"),
        (b"", "text/plain", "empty", ""),
        (b"x", "text/plain; charset=no-such-charset", "base64", "eA=="),
    ],
)
def test_bodies_are_readable_whenever_possible(body, content_type, encoding, value):
    rendered = render_body(body, content_type)
    assert (rendered.encoding, rendered.value, rendered.size) == (encoding, value, len(body))


def test_corrupt_bytes_give_an_error_and_the_hex():
    decoded = _decode(None, Point, data=b"\x02\x04\x00")  # one byte too many
    assert not decoded.ok and decoded.kind == "error"
    assert decoded.error_type == "decode_error"
    assert "byte 2" in (decoded.error or "")
    out = _api_form(decoded)
    assert out["hex"] == "020400" and out["value"] is None and out["error"]["type"] == "decode_error"


def test_truncated_and_empty_payloads_are_errors_not_exceptions():
    for data in (b"", b"\x80"):
        decoded = _decode(None, Point, data=data)
        assert decoded.error_type == "decode_error"


def test_a_missing_schema_is_named_and_the_bytes_shown():
    root, registry = schema_for(list[Point])
    point_id = schema_for(Point)[0].type_id
    partial = SchemaRegistry(s for i, s in registry.items() if i != point_id)
    decoded = decode_response(encode([Point(1, 2)], list[Point]), root, partial)
    assert decoded.error_type == "missing_schema"
    assert f"{point_id:016x}" in (decoded.error or "")
    assert decoded.type_name == f"Vec<#{point_id:016x}>"
    assert [e.schema is None for e in decoded.closure].count(True) == 1
    assert _api_form(decoded)["hex"] == encode([Point(1, 2)], list[Point]).hex()


def test_an_unreadable_root_type_is_an_error():
    for root in (None, {"tag": "nonsense"}, "not json", {"tag": "concrete"}):
        decoded = decode_response(b"\x00", root, SchemaRegistry())
        assert decoded.error_type == "invalid_root_type"
        assert _api_form(decoded)["hex"] == "00"


def test_a_corrupt_schema_row_is_an_error_too():
    class Broken:
        def get_schema(self, schema_id):
            raise ValueError("corrupt definition")

    root, _ = schema_for(Point)
    decoded = decode_response(b"\x02\x04", root, Broken())
    assert not decoded.ok
    assert _api_form(decoded)["hex"] == "0204"


def test_hex_is_cut_for_huge_payloads():
    root, registry = schema_for(bytes)
    decoded = decode_response(b"\xff" * (HEX_LIMIT + 10), root, registry)
    assert not decoded.ok
    assert len(decoded.hex) == 2 * HEX_LIMIT and decoded.hex_truncated
    assert _api_form(decoded)["hex_truncated"] is True


def test_the_caching_source_asks_once_per_hash_misses_included():
    calls = []

    class Counting:
        def get_schema(self, schema_id):
            calls.append(schema_id)
            return None

    source = CachingSchemaSource(Counting())
    assert source.get_schema(1) is None and source.get_schema(1) is None
    assert calls == [1]


def test_json_html_escapes_and_classes_every_token():
    html = json_html({"<b>": ["</pre><script>alert(1)</script>", 1.5, True, None]})
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert '<span class="j-key">&quot;&lt;b&gt;&quot;</span>' in html
    for cls in ("j-str", "j-num", "j-bool", "j-null", "j-punct"):
        assert f'class="{cls}"' in html
    assert json_html({}) == '<span class="j-punct">{}</span>'


def test_json_html_cuts_absurd_nesting():
    value: list = []
    for _ in range(200):
        value = [value]
    assert "\u2026" in json_html(value)


def test_declaration_tokens_render_as_classed_spans():
    root, registry = schema_for(Point)
    html = tokens_html(declaration_tokens(registry[root.type_id], registry))
    assert '<span class="t-kw">struct</span>' in html
    assert '<span class="t-type">Point</span>' in html and '<span class="t-field">x</span>' in html
    assert '<span class="t-prim">i32</span>' in html


def test_the_bar_chart_is_inline_svg_with_a_tooltip_per_bar():
    svg = bar_chart_svg([Bar("10:00", 0, "10:00"), Bar("11:00", 4), Bar("<12:00>", 1)], title="seals")
    assert svg.startswith("<svg") and "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert svg.count('<rect class="ops-bar"') == 3
    assert "<title>11:00: 4</title>" in svg and "&lt;12:00&gt;" in svg
    assert bar_chart_svg([]).startswith("<svg")


@pytest.mark.parametrize(
    ("value", "tp", "variant"),
    [
        (Ok(Point(1, 1)), Result[Point, str], "Ok"),
        (Err("nope"), Result[Point, str], "Err"),
        (Err(3), Result[str, I32], "Err"),
        (Point(1, 0), Point, None),
        (Shape.Circle(1.0), Shape, None),  # an enum, but not a Result: its index 1 means nothing here
    ],
)
def test_ok_and_err_are_told_from_the_decoded_value_and_from_the_first_byte(value, tp, variant):
    from op_store.display import reply_variant

    root, _ = schema_for(tp)
    data = encode(value, tp)
    assert _decode(value, tp).result_variant == variant
    assert reply_variant(root.to_json(), data[:1]) == variant
    assert reply_variant(root.to_json(), None) is None and reply_variant(None, data[:1]) is None


def test_a_corrupt_result_is_no_variant():
    decoded = _decode(None, Result[Point, str], data=b"\x05")
    assert decoded.result_variant is None and decoded.kind == "error"


class _CountingBatchSource:
    """A registry that counts its lookups, with the ORM source's batch interface."""

    def __init__(self, registry):
        self.registry = registry
        self.single = 0
        self.batches = []

    def get_schema(self, schema_id):
        self.single += 1
        return self.registry.get(schema_id)

    def get_schemas(self, schema_ids):
        self.batches.append(sorted(schema_ids))
        return {i: self.registry[i] for i in schema_ids if i in self.registry}


def test_a_closure_walk_asks_in_batches_not_schema_by_schema():
    """HttpReply { status: u16, headers: Vec<(String, String)>, body: Bytes }: the struct, then in
    one batch every schema its fields name (u16, Vec, the tuple and String as Vec's arguments,
    Bytes); those name nothing new (Vec<T> and (A, B) are generic). Two batches, no single lookup."""
    root, registry = reply_schema()
    source = _CountingBatchSource(registry)
    decoded = decode_response(encode_reply(HttpReply(200, [("A", "b")], b"")), root, source)
    assert decoded.ok and {e.schema_id for e in decoded.closure} == set(registry)
    assert source.single == 0 and len(source.batches) == 2
    assert decoded.closure[0].schema_id == root.type_id  # the root type's own schema first


def test_every_missing_schema_is_listed_and_the_walk_goes_on():
    root, registry = schema_for(Result[Point, str])
    point = schema_for(Point)[0].type_id
    string = schema_for(str)[0].type_id
    partial = SchemaRegistry(s for i, s in registry.items() if i not in (point, string))
    decoded = decode_response(encode(Ok(Point(1, 2)), Result[Point, str]), root, partial)
    missing = {e.schema_id for e in decoded.closure if e.schema is None}
    assert missing == {point, string} and decoded.error_type == "missing_schema"
    assert decoded.closure[0].schema_id == root.type_id
