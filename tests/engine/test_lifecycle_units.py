"""Unit tests of the lifecycle's parts: keys, problems, replies, fingerprints, options, checks."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory, override_settings

from op_store.lifecycle import problems
from op_store.lifecycle.fingerprints import body_digest, default_fingerprint, method_and_path
from op_store.lifecycle.keys import (
    MalformedKeyError,
    key_from_request,
    operation_id_for_key,
    parse_idempotency_key,
    parse_operation_id,
)
from op_store.lifecycle.policy import Options
from op_store.lifecycle.reply import (
    HttpReply,
    decode_reply,
    encode_reply,
    replay_response,
    reply_from_response,
    reply_schema,
)
from op_store.vox import StructKind
from op_store.vox.ids import U64_MAX, hash64

rf = RequestFactory()


# --- keys ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("abc", "abc"),
        ("8e03978e-40d5-43e8-bc93-6894a57f9324", "8e03978e-40d5-43e8-bc93-6894a57f9324"),
        ('"abc"', "abc"),
        ('"with space"', "with space"),
        ('"esc\\"aped\\\\"', 'esc"aped\\'),
        ("  padded\t", "padded"),
        ("a" * 255, "a" * 255),
        ("!#$%&'*+-.^_`|~:/;=", "!#$%&'*+-.^_`|~:/;="),
        # A quote inside a bare key is a character of it; only a leading one opens an sf-string.
        ('a"b', 'a"b'),
        ('a"', 'a"'),
        # A bare comma is what a server makes of two header lines (refused); quoted, it is one key's.
        ('"!#$%&\'*+-.^_`|~:/;,="', "!#$%&'*+-.^_`|~:/;,="),
    ],
)
def test_valid_idempotency_keys(header: str, key: str) -> None:
    assert parse_idempotency_key(header) == key


@pytest.mark.parametrize(
    "header",
    [
        "",
        "   ",
        '""',
        "a" * 256,
        '"' + "a" * 256 + '"',
        "has space",
        "a, b",  # two headers folded into one
        "a,b",  # the same, as servers join repeated lines
        "caf\u00e9",
        "tab\there",
        '"unterminated',
        '"bad\\escape"',
        '"x"trailing',
        '"ctl\x01"',
        "del\x7f",
        "\x7f",
        "nul\x00",
        "line\nbreak",
        "trailing\n",
    ],
)
def test_malformed_idempotency_keys(header: str) -> None:
    with pytest.raises(MalformedKeyError):
        parse_idempotency_key(header)


def test_quoted_and_bare_spellings_are_one_operation() -> None:
    bare = key_from_request(rf.post("/", HTTP_IDEMPOTENCY_KEY="k-1"))
    quoted = key_from_request(rf.post("/", HTTP_IDEMPOTENCY_KEY='"k-1"'))
    assert bare == quoted
    assert bare is not None and bare.key == "k-1"


def test_key_to_operation_id_is_the_documented_hash() -> None:
    assert operation_id_for_key("k-1") == hash64(b"idempotency-key:k-1")
    assert operation_id_for_key("k-1") != operation_id_for_key("k-2")


@pytest.mark.parametrize(("header", "value"), [("0", 0), ("42", 42), (str(U64_MAX), U64_MAX), (" 7 ", 7)])
def test_valid_operation_ids(header: str, value: int) -> None:
    assert parse_operation_id(header) == value


@pytest.mark.parametrize("header", ["", "-1", "1.5", "0x10", str(U64_MAX + 1), "1e3", "١٢"])
def test_malformed_operation_ids(header: str) -> None:
    with pytest.raises(MalformedKeyError):
        parse_operation_id(header)


def test_vox_operation_id_is_used_as_is() -> None:
    key = key_from_request(rf.post("/", HTTP_VOX_OPERATION_ID="12345"))
    assert key is not None and key.operation_id == 12345 and key.key == ""


def test_no_key_and_both_keys() -> None:
    assert key_from_request(rf.post("/")) is None
    with pytest.raises(MalformedKeyError, match="not both"):
        key_from_request(rf.post("/", HTTP_IDEMPOTENCY_KEY="a", HTTP_VOX_OPERATION_ID="1"))


# --- problems --------------------------------------------------------------------------------


def test_problem_response_shape() -> None:
    response = problems.problem_response(problems.IN_FLIGHT, "busy", retry_after=1, extra="x")
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    assert response["Retry-After"] == "1"
    body = json.loads(response.content)
    assert body == {
        "type": "urn:op-store:problem:in-flight",
        "code": "in-flight",
        "title": "Operation in progress",
        "status": 409,
        "detail": "busy",
        "extra": "x",
    }


def test_problem_codes_are_unique() -> None:
    codes = [problem.code for problem in problems.ALL]
    assert len(codes) == len(set(codes))
    assert all(problem.type == "urn:op-store:problem:" + problem.code for problem in problems.ALL)


# --- replies ---------------------------------------------------------------------------------


def test_http_reply_schema_is_a_struct_with_its_closure() -> None:
    root, registry = reply_schema()
    schema = registry[root.collect_ids()[0]]
    assert isinstance(schema.kind, StructKind)
    assert schema.kind.name == "HttpReply"
    assert [f.name for f in schema.kind.fields] == ["status", "headers", "body"]
    assert registry.closure(root)  # complete: no KeyError


def test_http_reply_round_trips() -> None:
    reply = HttpReply(status=201, headers=[("Content-Type", "application/json"), ("Location", "/x/")], body=b"\x00{}")
    assert decode_reply(encode_reply(reply)) == reply


def test_stored_headers_never_include_per_connection_ones() -> None:
    from django.http import HttpResponse

    response = HttpResponse(b"hi", content_type="text/plain", status=201)
    response["Location"] = "/x/"
    response["Date"] = "Mon, 01 Jan 2024 00:00:00 GMT"
    response["Content-Length"] = "2"
    response["Set-Cookie"] = "a=b"
    response["Connection"] = "close"
    response["X-Custom"] = "1"
    allowed = frozenset({"content-type", "location", "date", "set-cookie", "content-length", "connection"})
    reply = reply_from_response(response, allowed)
    assert reply.headers == [("Content-Type", "text/plain"), ("Location", "/x/")]
    replay = replay_response(reply)
    assert replay.status_code == 201
    assert replay.content == b"hi"
    assert replay["Content-Type"] == "text/plain"
    assert replay["Idempotent-Replayed"] == "true"
    assert not replay.has_header("Date") and not replay.has_header("X-Custom")


def test_replay_without_stored_content_type_has_none() -> None:
    replay = replay_response(HttpReply(status=204, headers=[], body=b""))
    assert not replay.has_header("Content-Type")
    assert replay["Idempotent-Replayed"] == "true"


def test_replay_keeps_a_stored_content_type_in_any_case_and_the_headers_order() -> None:
    reply = HttpReply(status=200, headers=[("content-type", "text/csv"), ("X-B", "2"), ("X-A", "1")], body=b"a,b")
    replay = replay_response(reply)
    assert replay["Content-Type"] == "text/csv"
    assert list(replay.items()) == [
        ("content-type", "text/csv"),
        ("X-B", "2"),
        ("X-A", "1"),
        ("Idempotent-Replayed", "true"),
    ]


# --- fingerprints ----------------------------------------------------------------------------


def test_fingerprint_covers_method_path_query_and_body() -> None:
    base = default_fingerprint(rf.post("/a/?q=1", b"{}", content_type="application/json"))
    assert base == default_fingerprint(rf.post("/a/?q=1", b"{}", content_type="application/json"))
    assert base != default_fingerprint(rf.put("/a/?q=1", b"{}", content_type="application/json"))
    assert base != default_fingerprint(rf.post("/b/?q=1", b"{}", content_type="application/json"))
    assert base != default_fingerprint(rf.post("/a/?q=2", b"{}", content_type="application/json"))
    assert base != default_fingerprint(rf.post("/a/?q=1", b"{ }", content_type="application/json"))
    assert len(base) == 32


def test_method_and_path_ignores_the_body() -> None:
    assert method_and_path(rf.post("/a/", b"1", content_type="text/plain")) == method_and_path(
        rf.post("/a/", b"2", content_type="text/plain")
    )


def test_body_stays_readable_after_the_fingerprint() -> None:
    request = rf.post("/a/", {"x": "1", "f": io.BytesIO(b"file")})
    default_fingerprint(request)
    assert request.POST["x"] == "1"
    assert request.FILES.getlist("f")[0].read() == b"file"


def test_form_parsed_before_the_fingerprint_is_fingerprinted_by_its_fields_and_files() -> None:
    def parsed(content: bytes, field: str = "1") -> bytes:
        request = rf.post("/a/", {"x": field, "f": io.BytesIO(content)})
        assert request.POST["x"] == field  # a CSRF check did this: the stream is consumed
        digest = default_fingerprint(request)
        assert request.FILES.getlist("f")[0].read() == content  # still readable
        return digest

    assert parsed(b"one") == parsed(b"one")
    assert parsed(b"one") != parsed(b"two")
    assert parsed(b"one") != parsed(b"one", field="2")


def test_body_consumed_as_a_stream_cannot_be_fingerprinted() -> None:
    request = rf.post("/a/", b"raw", content_type="application/octet-stream")
    request.read()
    with pytest.raises(RuntimeError, match="consumed"):
        default_fingerprint(request)


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=100)
def test_large_non_multipart_body_is_refused_with_413() -> None:
    request = rf.post("/a/", b"x" * 101, content_type="application/octet-stream")
    with pytest.raises(problems.ProblemError) as info:
        default_fingerprint(request)
    assert info.value.problem is problems.REQUEST_TOO_LARGE


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=100, FILE_UPLOAD_MAX_MEMORY_SIZE=50)
def test_large_multipart_upload_is_spooled_and_still_readable() -> None:
    content = b"y" * 5000
    request = rf.post("/a/", {"x": "1", "f": io.BytesIO(content)})
    digest = body_digest(request)
    assert request.FILES.getlist("f")[0].read() == content
    assert request.POST["x"] == "1"
    same = rf.post("/a/", {"x": "1", "f": io.BytesIO(content)})
    same._stream = io.BytesIO(same.read())  # a seekable stream, as under ASGI
    same._read_started = False  # type: ignore[attr-defined]
    assert body_digest(same) == digest


# --- options ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"stale": "sometimes"},
        {"wait": -1},
        {"lease": 0},
        {"lease": "1s"},
        {"seal": [200, 999]},
        {"seal": 5},
        {"fingerprint": "no.such.module.fn"},
        {"scope": 3},
        {"required": "yes"},
        {"atomic": 1},
    ],
)
def test_bad_options_fail_at_decoration(kwargs: dict[str, object]) -> None:
    with pytest.raises(ImproperlyConfigured):
        Options.build(**kwargs)  # type: ignore[arg-type]


def test_options_override_settings() -> None:
    options = Options.build(seal=[200], stale="reexecute", wait=2, lease=timedelta(seconds=3), required=True)
    policy = options.resolve(rf.post("/"))
    assert policy.seals(200) and not policy.seals(201)
    assert (policy.stale, policy.wait, policy.lease, policy.required) == ("reexecute", 2.0, timedelta(seconds=3), True)
    assert options.resolve(rf.get("/")).required is False  # safe methods never need a key


def test_async_view_refuses_atomic() -> None:
    from op_store.decorators import exactly_once

    async def view(request: object) -> None:
        return None

    with pytest.raises(ImproperlyConfigured, match="async"):
        exactly_once(atomic=True)(view)


# --- system checks ---------------------------------------------------------------------------

MW = "op_store.middleware.ExactlyOnceMiddleware"
AUTH = "django.contrib.auth.middleware.AuthenticationMiddleware"
SESSION = "django.contrib.sessions.middleware.SessionMiddleware"
CSRF = "django.middleware.csrf.CsrfViewMiddleware"


@pytest.mark.parametrize(
    ("middleware", "ids"),
    [
        ([SESSION, CSRF, AUTH, MW], []),
        ([SESSION, MW, CSRF, AUTH], ["op_store.W040", "op_store.W041"]),
        ([SESSION, CSRF, MW], ["op_store.W040"]),
        ([SESSION, AUTH], []),
    ],
)
def test_middleware_order_check(middleware: list[str], ids: list[str]) -> None:
    from op_store.lifecycle.checks import check_middleware_order

    with override_settings(MIDDLEWARE=middleware):
        assert [m.id for m in check_middleware_order()] == ids
