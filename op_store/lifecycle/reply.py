"""HTTP replies as vox values: what is sealed for a view's response and how a replay is rebuilt.

A reply is sealed as the postcard encoding of :class:`HttpReply` under its own schema (a vox
Struct ``HttpReply { status: u16, headers: list<(string, string)>, body: bytes }``), so the store
keeps its schemas deduplicated like any other type's, and the inspection API can decode it.

Only headers named in ``OP_STORE["STORED_HEADERS"]`` are stored, and never the per-connection ones
in :data:`NEVER_STORED` (``Set-Cookie``, ``Date``, ``Content-Length`` and hop-by-hop headers),
whatever the setting says: a cookie set for one response must not be handed out again, and the
others describe the connection or the moment, not the reply.
"""

# No ``from __future__ import annotations``: schema_for reads the dataclass's real annotations.

import functools
from dataclasses import dataclass

from django.http import HttpResponse
from django.http.response import HttpResponseBase

from op_store import headers
from op_store.vox import U16, decode, encode, schema_for
from op_store.vox.schema import SchemaRegistry, TypeRef

REPLAYED_HEADER = headers.REPLAYED

#: Never stored, whatever STORED_HEADERS says (lower-case).
NEVER_STORED = frozenset(
    {
        "set-cookie",
        "date",
        "content-length",
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        REPLAYED_HEADER.lower(),
    }
)


@dataclass(frozen=True, slots=True)
class HttpReply:
    """A sealed HTTP reply: status, the stored headers in response order, and the body bytes."""

    status: U16
    headers: list[tuple[str, str]]
    body: bytes


@functools.cache
def reply_schema() -> tuple[TypeRef, SchemaRegistry]:
    """The root TypeRef and the schema registry of :class:`HttpReply` (computed once)."""
    return schema_for(HttpReply)


def stored_headers(response: HttpResponseBase, allowed: frozenset[str]) -> list[tuple[str, str]]:
    """The response's headers that a replay repeats: allow-listed, minus :data:`NEVER_STORED`."""
    return [
        (name, value)
        for name, value in response.items()
        if (lower := name.lower()) in allowed and lower not in NEVER_STORED
    ]


def reply_from_response(response: HttpResponse, allowed: frozenset[str]) -> HttpReply:
    return HttpReply(status=response.status_code, headers=stored_headers(response, allowed), body=response.content)


def problem_reply(response: HttpResponse) -> HttpReply:
    """An answer op_store gives in place of a reply, as sealed: status, its Content-Type and body.

    The Content-Type is kept whatever ``STORED_HEADERS`` says: a replayed problem must stay one.
    """
    return HttpReply(
        status=response.status_code, headers=[("Content-Type", response["Content-Type"])], body=response.content
    )


def encode_reply(reply: HttpReply) -> bytes:
    return encode(reply, HttpReply)


def decode_reply(data: bytes) -> HttpReply:
    return decode(data, HttpReply)


def replay_response(reply: HttpReply) -> HttpResponse:
    """Rebuild the response: same status, stored headers and body, plus ``Idempotent-Replayed: true``."""
    response = HttpResponse(reply.body, status=reply.status)
    del response["Content-Type"]  # the stored headers say what it was (or that there was none)
    for name, value in reply.headers:
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response
