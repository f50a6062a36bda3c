"""Cursor pagination on the primary key: no ``COUNT(*)``, stable under inserts, one indexed range scan.

``page_size`` is validated (ASCII digits in 1..``max_page_size``, else a 400 problem) rather than
silently replaced by the default, so a client's typo does not look like a short table. A cursor is
checked before it reaches the database: one this API could not have issued (its position not a
primary key value) is DRF's 404 "Invalid cursor", like any other undecodable cursor.
"""

from __future__ import annotations

import re
from typing import Any

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

from .filters import single_value

#: A cursor's position: the primary key of the row it stops at, in decimal.
POSITION_PATTERN = r"[0-9]{1,20}"


class StrictCursorPagination(CursorPagination):
    """DRF's cursor pagination with a validated, documented ``page_size`` and checked cursors."""

    page_size_query_param = "page_size"
    max_page_size = 500
    #: The largest primary key a position may name (a BIGINT primary key by default).
    max_position = 2**63 - 1

    def get_page_size(self, request: Request) -> int:
        raw = single_value(request, self.page_size_query_param)
        if raw is None:
            return int(self.page_size)
        # Not str.isdigit(): it accepts "²" and other digits int() refuses, and any length.
        if not re.fullmatch(r"[0-9]{1,9}", raw) or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError({self.page_size_query_param: [f"an integer in 1..{self.max_page_size}"]})
        return int(raw)

    def decode_cursor(self, request: Request) -> Cursor | None:
        single_value(request, self.cursor_query_param)
        cursor: Cursor | None = super().decode_cursor(request)
        position = cursor.position if cursor is not None else None
        if position is not None and not (
            re.fullmatch(POSITION_PATTERN, position) and int(position) <= self.max_position
        ):
            raise NotFound(self.invalid_cursor_message)
        return cursor

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
    max_position = 2**64 - 1  # a u64 hash
