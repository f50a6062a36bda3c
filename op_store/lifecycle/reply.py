"""HTTP replies as vox values: what is sealed for a view's response and how a replay is rebuilt.

A reply is sealed as the postcard encoding of :class:`HttpReply` under its own schema (a vox
Struct ``HttpReply { status: u16, headers: list<(string, string)>, body: bytes }``), so the store
keeps its schemas deduplicated like any other type's, and the inspection API can decode it.

Only headers named in ``OP_STORE["STORED_HEADERS"]`` are stored, and never the per-connection ones
in :data:`NEVER_STORED` (``Set-Cookie``, ``Date``, ``Content-Length`` and hop-by-hop headers),
whatever the setting says: a cookie set for one response must not be handed out again, and the
others describe the connection or the moment, not the reply.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.http.response import HttpResponseBase

from op_store import headers

# The reply type itself is Django-free (the inspection pages decode it too); re-exported here.
from op_store.http_reply import HttpReply, decode_reply, encode_reply, reply_schema

__all__ = [
    "NEVER_STORED",
    "REPLAYED_HEADER",
    "HttpReply",
    "decode_reply",
    "encode_reply",
    "replay_response",
    "reply_from_response",
    "reply_schema",
    "stored_headers",
]

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


def replay_response(reply: HttpReply) -> HttpResponse:
    """Rebuild the response: same status, stored headers and body, plus ``Idempotent-Replayed: true``."""
    response = HttpResponse(reply.body, status=reply.status, headers=[*reply.headers, (REPLAYED_HEADER, "true")])
    if not any(name.lower() == "content-type" for name, _ in reply.headers):
        del response["Content-Type"]  # Django's default: the reply had none (the stored headers say so)
    return response
