"""Hostile key headers: every malformed ``Vox-Operation-Id`` or ``Idempotency-Key`` is a clean 400.

Each value goes through the three doors a client can knock on: a decorated view, an undecorated view
under ``ExactlyOnceMiddleware``, and every kind of RPC method. None of them may run the view, admit
anything, or log an error (a 500 with a traceback is what an over-long id used to get).
"""

from __future__ import annotations

import http.client
import json
import logging
import urllib.parse
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.test import Client

from op_store.engine.keys import MalformedKeyError, parse_idempotency_key, parse_operation_id
from op_store.models import Operation
from tests.support.live.support import count, post, problem
from tests.support.rpc_services import RUNS, db_runs

pytestmark = pytest.mark.django_db(transaction=True)

MIDDLEWARE = "op_store.middleware.ExactlyOnceMiddleware"

#: ``Vox-Operation-Id`` values that are not a decimal u64 of at most 20 ASCII digits.
BAD_OPERATION_IDS = {
    "over-int-digit-limit": "1" * 4301,
    "far-over-int-digit-limit": "9" * 20_000,
    "21-digits": "1" * 21,
    "zero-padded-21-digits": "0" * 20 + "1",
    "u64-max-plus-one": "18446744073709551616",
    "fullwidth-digits": "\uff11\uff12\uff13",
    "superscript-two": "\u00b2",
    "arabic-indic-digits": "\u0661\u0662",
    "plus-sign": "+1",
    "minus-sign": "-1",
    "inner-space": "1 2",
    "inner-tab": "1\t2",
    "underscore": "1_000",
    "empty": "",
    "only-spaces": "   ",
    "hex": "0x10",
    "exponent": "1e3",
    "decimal-point": "1.0",
    "two-header-lines": "1,2",
}

#: ``Idempotency-Key`` values that are not one key.
BAD_IDEMPOTENCY_KEYS = {
    "two-header-lines": "A,B",
    "two-lines-with-space": "A, B",
    "two-quoted-lines": '"A", "B"',
    "trailing-comma": "A,",
    "leading-comma": ",A",
    "empty": "",
    "only-spaces": "  ",
    "too-long": "k" * 256,
    "non-ascii": "cl\u00e9",
    "inner-space": "a b",
    "control-character": "a\x01b",
    "unterminated-quote": '"abc',
    "text-after-quote": '"abc"def',
    "bad-escape": '"a\\nb"',
}

GOOD_OPERATION_IDS = {
    "0": 0,
    "1": 1,
    "00000000000000000001": 1,  # 20 digits: still at most 20
    "18446744073709551615": 2**64 - 1,
    " 42\t": 42,  # optional whitespace around a header value
}


@pytest.fixture
def with_middleware(settings: Any) -> None:
    settings.MIDDLEWARE = [*django_settings.MIDDLEWARE, MIDDLEWARE]


@pytest.fixture
def no_errors_logged(caplog: pytest.LogCaptureFixture) -> Any:
    """Fails the test when anything logs an ERROR (Django logs a 500's traceback at ERROR)."""
    caplog.set_level(logging.WARNING)
    yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


def _malformed(response: Any) -> None:
    assert response.status_code == 400, response.content[:300]
    assert problem(response)["code"] == "malformed-key"


# --- the parsers on their own ------------------------------------------------------------------


@pytest.mark.parametrize("value", BAD_OPERATION_IDS.values(), ids=BAD_OPERATION_IDS.keys())
def test_parse_operation_id_refuses_with_malformed_key_error_only(value: str) -> None:
    with pytest.raises(MalformedKeyError):
        parse_operation_id(value)


def test_parse_operation_id_never_converts_more_than_20_digits(monkeypatch: pytest.MonkeyPatch) -> None:
    """The digit count is checked before ``int()`` sees the text, however long it is."""
    import builtins

    import op_store.engine.keys as keys

    converted: list[int] = []
    real_int = builtins.int

    def spying_int(value: Any, *args: Any) -> int:
        if isinstance(value, str):
            converted.append(len(value))
        return real_int(value, *args)

    monkeypatch.setattr(keys, "int", spying_int, raising=False)
    for value in BAD_OPERATION_IDS.values():
        with pytest.raises(MalformedKeyError):
            parse_operation_id(value)
    assert parse_operation_id("18446744073709551615") == 2**64 - 1
    assert converted and max(converted) <= 20


@pytest.mark.parametrize(("value", "expected"), GOOD_OPERATION_IDS.items())
def test_parse_operation_id_accepts_decimal_u64(value: str, expected: int) -> None:
    assert parse_operation_id(value) == expected


@pytest.mark.parametrize("value", BAD_IDEMPOTENCY_KEYS.values(), ids=BAD_IDEMPOTENCY_KEYS.keys())
def test_parse_idempotency_key_refuses(value: str) -> None:
    with pytest.raises(MalformedKeyError):
        parse_idempotency_key(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("abc", "abc"), ('"abc"', "abc"), ('"a,b"', "a,b"), ('"a b"', "a b"), ("k" * 255, "k" * 255)],
)
def test_parse_idempotency_key_accepts_one_key(value: str, expected: str) -> None:
    """A comma inside an RFC 8941 string is part of one key; only a bare comma separates two."""
    assert parse_idempotency_key(value) == expected


# --- a decorated view ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", BAD_OPERATION_IDS.values(), ids=BAD_OPERATION_IDS.keys())
def test_decorated_view_answers_400_to_a_bad_operation_id(alice: Client, value: str, no_errors_logged: None) -> None:
    _malformed(post(alice, "/lc/fn/a/", key=None, HTTP_VOX_OPERATION_ID=value))
    assert count("a") == 0 and not Operation.objects.exists()


@pytest.mark.parametrize("value", BAD_IDEMPOTENCY_KEYS.values(), ids=BAD_IDEMPOTENCY_KEYS.keys())
def test_decorated_view_answers_400_to_a_bad_idempotency_key(alice: Client, value: str, no_errors_logged: None) -> None:
    _malformed(post(alice, "/lc/fn/a/", key=value))
    assert count("a") == 0 and not Operation.objects.exists()


def test_anonymous_client_gets_400_not_500_for_an_over_long_id(no_errors_logged: None) -> None:
    _malformed(post(Client(), "/lc/fn/a/", key=None, HTTP_VOX_OPERATION_ID="7" * 5000))
    assert count("a") == 0


# --- the middleware ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", BAD_OPERATION_IDS.values(), ids=BAD_OPERATION_IDS.keys())
def test_middleware_answers_400_to_a_bad_operation_id(
    alice: Client, with_middleware: None, value: str, no_errors_logged: None
) -> None:
    _malformed(post(alice, "/lc/mw/a/", key=None, HTTP_VOX_OPERATION_ID=value))
    assert count("a") == 0 and not Operation.objects.exists()


@pytest.mark.parametrize("value", BAD_IDEMPOTENCY_KEYS.values(), ids=BAD_IDEMPOTENCY_KEYS.keys())
def test_middleware_answers_400_to_a_bad_idempotency_key(
    alice: Client, with_middleware: None, value: str, no_errors_logged: None
) -> None:
    _malformed(post(alice, "/lc/mw/a/", key=value))
    assert count("a") == 0 and not Operation.objects.exists()


# --- RPC -----------------------------------------------------------------------------------------

#: One method of each kind: atomic, non-atomic, idempotent (runs untracked), returning nothing, and a
#: name the site does not know. The key is read before the method is looked up or its arguments decoded.
RPC_CALLS = {
    "transfer": {"from_": "a", "to": "b", "amount": 1},
    "slow": {"seconds": 0.0, "name": "hostile"},
    "balance": {"account": "a"},
    "nothing": {},
    "no-such-method": {},
}


def _rpc(client: Client, method: str, **headers: str) -> Any:
    body = json.dumps(RPC_CALLS[method]).encode()
    return client.post(f"/rpc/bank/{method}", body, content_type="application/json", **headers)


@pytest.mark.parametrize("method", RPC_CALLS)
@pytest.mark.parametrize("value", BAD_OPERATION_IDS.values(), ids=BAD_OPERATION_IDS.keys())
def test_rpc_answers_400_to_a_bad_operation_id(alice: Client, method: str, value: str, no_errors_logged: None) -> None:
    RUNS.clear()
    _malformed(_rpc(alice, method, HTTP_VOX_OPERATION_ID=value))
    assert not RUNS and db_runs("transfer") == 0 and not Operation.objects.exists()


@pytest.mark.parametrize("method", ["transfer", "balance"])
@pytest.mark.parametrize("value", BAD_IDEMPOTENCY_KEYS.values(), ids=BAD_IDEMPOTENCY_KEYS.keys())
def test_rpc_answers_400_to_a_bad_idempotency_key(
    alice: Client, method: str, value: str, no_errors_logged: None
) -> None:
    RUNS.clear()
    _malformed(_rpc(alice, method, HTTP_IDEMPOTENCY_KEY=value))
    assert not RUNS and db_runs("transfer") == 0 and not Operation.objects.exists()


# --- a real server: two header lines, as a client sends them -------------------------------------


def _send_lines(url: str, path: str, lines: list[tuple[str, str]], body: bytes, cookie: str) -> tuple[int, bytes]:
    """POST with the header lines exactly as given (repeated names stay separate lines on the wire)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        connection.putrequest("POST", path)
        for name, value in [("Content-Type", "application/json"), ("Cookie", cookie), *lines]:
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.fixture
def cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def _code(content: bytes) -> str:
    return str(json.loads(content).get("code", ""))


@pytest.mark.parametrize(
    "lines",
    [
        [("Idempotency-Key", "first"), ("Idempotency-Key", "second")],
        [("Idempotency-Key", '"first"'), ("Idempotency-Key", '"second"')],
        [("Idempotency-Key", "first,second")],
        [("Vox-Operation-Id", "1"), ("Vox-Operation-Id", "2")],
        [("Vox-Operation-Id", "1" * 4301)],
    ],
    ids=["two-bare-lines", "two-quoted-lines", "one-line-with-comma", "two-id-lines", "over-long-id"],
)
def test_live_server_refuses_repeated_or_merged_key_lines(
    live_server: Any, cookie: str, lines: list[tuple[str, str]], no_errors_logged: None
) -> None:
    # race_view is csrf_exempt: a real client's session cookie is enough.
    status, content = _send_lines(live_server.url, "/lc/race/dup/", lines, b'{"amount": 1}', cookie)
    assert (status, _code(content)) == (400, "malformed-key"), content[:300]
    status, content = _send_lines(live_server.url, "/rpc/bank/deposit", lines, b'{"account": "a", "amount": 1}', cookie)
    assert (status, _code(content)) == (400, "malformed-key"), content[:300]
    assert count("dup") == 0 and db_runs("deposit") == 0 and not Operation.objects.exists()


def test_live_server_accepts_one_key_line(live_server: Any, cookie: str) -> None:
    """The control: the same request with a single key line runs once and replays."""
    lines = [("Idempotency-Key", "only")]
    first = _send_lines(live_server.url, "/lc/race/one/", lines, b'{"amount": 1}', cookie)
    again = _send_lines(live_server.url, "/lc/race/one/", lines, b'{"amount": 1}', cookie)
    assert first[0] == 201 and again == first and count("one") == 1
