"""Schemas as stored: a ``SchemaSource`` over the Schema table."""

from __future__ import annotations

from collections.abc import Iterable

from op_store.models import Schema
from op_store.vox.schema import Schema as VoxSchema
from op_store.vox.schema import TypeRef, schema_closure

from .alias import store_alias

__all__ = ["DatabaseSchemaSource"]


class DatabaseSchemaSource:
    """``SchemaSource`` over the Schema table; schemas are immutable, so found ones are memoised."""

    def __init__(self, using: str | None = None) -> None:
        self.using = using
        self._found: dict[int, VoxSchema] = {}

    def __repr__(self) -> str:
        return f"<DatabaseSchemaSource using={self.using!r}>"

    def get_schema(self, schema_id: int, /) -> VoxSchema | None:
        found = self._found.get(schema_id)
        if found is None:
            row = (
                Schema.objects.using(store_alias(self.using))
                .filter(pk=schema_id)
                .values_list("definition", flat=True)
                .first()
            )
            if row is None:
                return None
            found = self._found[schema_id] = VoxSchema.from_json(row)
        return found

    def get_schemas(self, schema_ids: Iterable[int]) -> dict[int, VoxSchema]:
        """Many schemas in one query (missing ones are simply absent from the result)."""
        wanted = set(schema_ids)
        out = {i: self._found[i] for i in wanted if i in self._found}
        missing = wanted - set(out)
        if missing:
            rows = Schema.objects.using(store_alias(self.using)).filter(pk__in=missing).values_list("id", "definition")
            for schema_id, definition in rows:
                out[schema_id] = self._found[schema_id] = VoxSchema.from_json(definition)
        return out

    def closure(self, root: TypeRef) -> list[VoxSchema]:
        """The stored closure of ``root`` in vox's walk order; schemas missing from the table are
        left out. One query per level of depth: each level is fetched before the walk needs it."""
        seen: set[int] = set()
        absent: set[int] = set()
        frontier = set(root.collect_ids())
        while frontier:
            found = self.get_schemas(frontier)
            seen |= frontier
            absent |= frontier - set(found)
            frontier = {child for schema in found.values() for child in schema.child_ids()} - seen
        return schema_closure(root, self, skip=absent)
