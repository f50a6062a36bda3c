"""Which schemas and operations use a schema: text search over the stored JSON, bounded.

References are hashes written as 16 hex digits inside the JSON (``"type_id": "<hex>"``), so a
substring search on the JSON text finds them on every backend without a dedicated column. These
queries scan, so they only run on one schema's detail page and are capped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast

from op_store.models import Operation, Schema
from op_store.vox.ids import format_hash

#: A schema reached through more schemas than this is not followed further up.
MAX_ANCESTORS = 200


def _mentions(field: str, ids: Iterable[int]) -> Q:
    query = Q()
    for schema_id in ids:
        query |= Q(**{f"{field}_text__contains": f'"{format_hash(schema_id)}"'})
    return query


def parents(schema_id: int, using: str) -> QuerySet[Any]:
    """Schemas whose definition references ``schema_id`` directly."""
    return (
        Schema.objects.using(using)
        .annotate(definition_text=Cast("definition", TextField()))
        .filter(_mentions("definition", [schema_id]))
        .exclude(pk=schema_id)
    )


def ancestors(schema_id: int, using: str) -> set[int]:
    """``schema_id`` and every stored schema that reaches it (one query per level, capped)."""
    found = {schema_id}
    frontier = {schema_id}
    while frontier and len(found) < MAX_ANCESTORS:
        rows = (
            Schema.objects.using(using)
            .annotate(definition_text=Cast("definition", TextField()))
            .filter(_mentions("definition", frontier))
            .values_list("pk", flat=True)[:MAX_ANCESTORS]
        )
        frontier = set(rows) - found
        found |= frontier
    return found


def operations_using(schema_ids: Iterable[int], queryset: QuerySet[Any]) -> QuerySet[Any]:
    """Operations whose root type mentions one of ``schema_ids`` (as itself or a generic argument)."""
    ids = list(schema_ids)
    if not ids:
        return queryset.none()
    return queryset.annotate(root_type_text=Cast("root_type", TextField())).filter(_mentions("root_type", ids))


def operations_using_schema(schema_id: int, using: str) -> QuerySet[Any]:
    """Operations whose response type contains ``schema_id`` anywhere in its closure."""
    return operations_using(ancestors(schema_id, using), Operation.objects.using(using))
