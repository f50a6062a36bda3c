"""Cursor pagination on the primary key: no ``COUNT(*)``, stable under inserts, one indexed range scan.

``page_size`` is validated (1..``max_page_size``, else a 400 problem) rather than silently replaced
by the default, so a client's typo does not look like a short table.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request


class StrictCursorPagination(CursorPagination):
    """DRF's cursor pagination with a validated, documented ``page_size``."""

    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return int(self.page_size)
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError({self.page_size_query_param: [f"an integer in 1..{self.max_page_size}"]})
        return int(raw)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        params = super().get_schema_operation_parameters(view)
        for param in params:
            if param["name"] == self.page_size_query_param:
                param["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size}
        return params


class OperationCursorPagination(StrictCursorPagination):
    """Newest first by primary key (unique, indexed)."""

    ordering = "-pk"
    page_size = 50


class SchemaCursorPagination(StrictCursorPagination):
    """By hash (the primary key): an order that never changes, since schemas are never updated."""

    ordering = "pk"
    page_size = 100
