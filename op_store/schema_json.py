"""One JSON document per schema: what an endpoint that serves schemas by hash answers.

``Schema.to_json()`` (which ``Schema.from_json`` reads back; it ignores the extra key) plus
``declaration``, the schema as a Rust-like declaration for people reading the JSON. Schemas are
content-addressed, so the document of a hash never changes. No Django import: any server (the
inspection API, an RPC site) can build it from a :class:`~op_store.vox.SchemaSource`.
"""

from __future__ import annotations

from typing import Any

from op_store.display import declaration
from op_store.vox.schema import Schema, SchemaSource


def schema_document(schema: Schema, source: SchemaSource) -> dict[str, Any]:
    """``schema`` as served by hash; ``source`` names the types its declaration refers to."""
    return {**schema.to_json(), "declaration": declaration(schema, source)}
