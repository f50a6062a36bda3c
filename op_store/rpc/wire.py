"""What travels over HTTP between the RPC view and its clients: content types, headers, root types.

Request: ``POST <prefix>/<service>/<method>`` with the arguments as the postcard encoding of the
argument tuple (``Content-Type: application/x-postcard``) or as JSON (``application/json``: an object
of named arguments or an array), and the operation id in ``Vox-Operation-Id`` (decimal u64).

Reply (HTTP 200 for every RPC outcome): the postcard encoding of ``Result[T, VoxError[E]]``, or its
JSON form (``decode_ref``'s shapes) when the request says ``Accept: application/json``, with

- ``Vox-Root-Type``: the root type id, 16 hex digits;
- ``Vox-Root-Type-Ref``: the full root TypeRef as compact JSON (``TypeRef.to_json``), which a client
  needs to decode a generic root such as ``Result`` by schemas alone;
- ``Vox-Method-Id``: the method id, 16 hex digits (absent for an unknown method);
- ``Idempotent-Replayed: true`` when the bytes are a sealed reply replayed to a retry.

No Django import: the client reads the same definitions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from op_store import headers as names
from op_store.vox import Schema, SchemaSource, TypeRef, format_hash

POSTCARD = "application/x-postcard"
JSON = "application/json"

# The header names, defined once in op_store.headers.
OPERATION_ID_HEADER = names.OPERATION_ID
ROOT_TYPE_HEADER = names.ROOT_TYPE
ROOT_TYPE_REF_HEADER = names.ROOT_TYPE_REF
METHOD_ID_HEADER = names.METHOD_ID
REPLAYED_HEADER = names.REPLAYED

#: Path segment (under the RPC prefix) of the schema endpoint: ``<prefix>_schemas/<16 hex>/``.
SCHEMAS_SEGMENT = "_schemas"


def format_type_ref(ref: TypeRef) -> str:
    """A TypeRef as the compact JSON of ``Vox-Root-Type-Ref``."""
    return json.dumps(ref.to_json(), separators=(",", ":"))


def parse_type_ref(text: str) -> TypeRef:
    """Inverse of :func:`format_type_ref`; ``ValueError`` on anything else."""
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return TypeRef.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a TypeRef: {text[:200]!r} ({exc})") from None


def media_type(content_type: str) -> str:
    """The media type of a Content-Type value, lower-case, without parameters."""
    return content_type.split(";", 1)[0].strip().lower()


def wants_json(accept: str) -> bool:
    """Whether an Accept header asks for the JSON reply (JSON listed, postcard not)."""
    types = {media_type(part) for part in accept.split(",")}
    return JSON in types and POSTCARD not in types


def root_headers(root: TypeRef, method_id: int | None) -> dict[str, str]:
    """The reply headers that describe its type."""
    headers = {ROOT_TYPE_HEADER: format_hash(root.collect_ids()[0]), ROOT_TYPE_REF_HEADER: format_type_ref(root)}
    if method_id is not None:
        headers[METHOD_ID_HEADER] = format_hash(method_id)
    return headers


class ChainedSchemaSource:
    """Schemas from the first source that has them (a local registry first, a remote one after)."""

    def __init__(self, sources: Iterable[SchemaSource]) -> None:
        self.sources = tuple(sources)

    def get_schema(self, schema_id: int, /) -> Schema | None:
        for source in self.sources:
            schema = source.get_schema(schema_id)
            if schema is not None:
                return schema
        return None
