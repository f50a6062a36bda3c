"""A retried call is the same call however its arguments are spelled: fingerprints are canonical.

postcard decoders accept overlong varints (excess continuation bytes, within the type's maximum
length), so one call can arrive as several byte strings. The RPC view must replay a retry that sends
the same arguments as overlong postcard, canonical postcard or JSON, and must still call it a
conflict when the arguments differ.
"""

from __future__ import annotations

import json
import random
from typing import Any

import blake3
import pytest
from django.contrib.auth.models import User
from django.test import Client

from op_store.rpc import VoxError
from op_store.rpc.calls import Call
from op_store.rpc.errors import CONFLICT_MESSAGE
from op_store.rpc.fingerprint import call_fingerprint
from op_store.vox import Err, Ok, method_id
from tests.support.rpc_services import LIMIT, RUNS, Balance, site

pytestmark = pytest.mark.django_db

POSTCARD = "application/x-postcard"
JSON = "application/json"

# transfer("alice", "bob", 5): each string is a varint length then UTF-8, the u64 a varint.
CANONICAL = b"\x05alice\x03bob\x05"
# The same values with every varint one byte longer than needed (0x85 0x00 is 5, 0x83 0x00 is 3).
OVERLONG = b"\x85\x00alice\x83\x00bob\x85\x00"
# And a different amount (6), also overlong: another call.
OVERLONG_OTHER = b"\x85\x00alice\x83\x00bob\x86\x00"


@pytest.fixture(autouse=True)
def _clean() -> Any:
    RUNS.clear()
    yield


@pytest.fixture
def client() -> Client:
    c = Client()
    c.force_login(User.objects.create(username="fingerprints"))
    return c


def post(client: Client, body: bytes, op: int, content_type: str = POSTCARD) -> Any:
    return client.post(
        "/rpc/bank/transfer", body, content_type=content_type, HTTP_VOX_OPERATION_ID=str(op), HTTP_ACCEPT=POSTCARD
    )


def reply(response: Any) -> Any:
    assert response.status_code == 200, response.content
    spec = site.lookup("bank", "transfer")
    assert spec is not None
    return spec.reply_codec.decode(response.content)


def test_the_vectors_decode_to_the_same_arguments() -> None:
    spec = site.lookup("bank", "transfer")
    assert spec is not None
    assert spec.args_codec.encode(("alice", "bob", 5)) == CANONICAL
    assert spec.args_codec.decode(OVERLONG) == ("alice", "bob", 5)
    assert spec.args_codec.decode(OVERLONG_OTHER) == ("alice", "bob", 6)


@pytest.mark.parametrize(
    ("first", "retry"),
    [(CANONICAL, OVERLONG), (OVERLONG, CANONICAL), (OVERLONG, OVERLONG)],
    ids=["canonical-then-overlong", "overlong-then-canonical", "overlong-twice"],
)
def test_an_overlong_varint_retry_replays(client: Client, first: bytes, retry: bytes) -> None:
    op = random.getrandbits(64)
    original = post(client, first, op)
    again = post(client, retry, op)
    assert reply(original) == reply(again) == _ok(LIMIT - 5)
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == original.content
    assert RUNS["transfer"] == 1


def test_a_postcard_call_retried_as_json_replays(client: Client) -> None:
    op = random.getrandbits(64)
    original = post(client, OVERLONG, op)
    again = client.post(
        "/rpc/bank/transfer",
        json.dumps({"from": "alice", "to": "bob", "amount": 5}),
        content_type=JSON,
        HTTP_VOX_OPERATION_ID=str(op),
        HTTP_ACCEPT=POSTCARD,
    )
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == original.content
    assert RUNS["transfer"] == 1


def test_other_arguments_still_conflict_however_spelled(client: Client) -> None:
    op = random.getrandbits(64)
    assert reply(post(client, CANONICAL, op)) == _ok(LIMIT - 5)
    assert reply(post(client, OVERLONG_OTHER, op)) == Err(VoxError.InvalidPayload(CONFLICT_MESSAGE))
    assert RUNS["transfer"] == 1


def test_the_fingerprint_of_canonical_bytes_is_unchanged() -> None:
    # Operations admitted before fingerprints were canonicalized hashed the raw (canonical) bytes:
    # BLAKE3("op-store-rpc-v1" || method id LE || BLAKE3(bytes)). They must still match.
    spec = site.lookup("bank", "transfer")
    assert spec is not None
    expected = blake3.blake3(
        b"op-store-rpc-v1" + method_id("bank", "transfer").to_bytes(8, "little") + blake3.blake3(CANONICAL).digest()
    ).digest()
    assert call_fingerprint(spec.method_id, ("alice", "bob", 5), spec.args_codec) == expected
    overlong_call = Call(None, spec, spec.args_codec.decode(OVERLONG), OVERLONG, None)  # type: ignore[arg-type]
    assert overlong_call.fingerprint == expected


def _ok(amount: int) -> Any:
    return Ok(Balance("alice", amount))
