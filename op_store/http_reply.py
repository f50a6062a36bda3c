"""A sealed HTTP reply as a vox value: ``HttpReply { status: u16, headers: list<(string, string)>, body: bytes }``.

The request lifecycle seals a view's response in this shape (:mod:`op_store.lifecycle.reply` builds
it from a Django response and rebuilds one on replay); :mod:`op_store.display` recognises it to show
a sealed reply as status, headers and body. Both need the type, only the lifecycle needs Django, so the
type lives here, importing nothing but :mod:`op_store.vox` (docs/architecture.md#layers).
"""

# No ``from __future__ import annotations``: schema_for reads the dataclass's real annotations.

import functools
from dataclasses import dataclass

from op_store.vox import U16, decode, encode, schema_for
from op_store.vox.schema import SchemaRegistry, TypeRef

__all__ = ["HttpReply", "decode_reply", "encode_reply", "reply_schema"]


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


def encode_reply(reply: HttpReply) -> bytes:
    return encode(reply, HttpReply)


def decode_reply(data: bytes) -> HttpReply:
    return decode(data, HttpReply)
