"""Changelist filters and search for operations that stay cheap on a large table."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from op_store.models import OperationQuerySet
from op_store.vox.ids import U64_MAX


class LeaseExpiredFilter(admin.SimpleListFilter):
    """Admitted operations whose lease ran out (the owner may be gone) vs. those still owned.

    Served by the partial index on ``lease_expires_at`` of admitted rows.
    """

    title = _("lease")
    parameter_name = "lease"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("expired", _("lease expired")), ("live", _("in flight (lease live)"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        assert isinstance(queryset, OperationQuerySet)
        if self.value() == "expired":
            return queryset.stale()
        if self.value() == "live":
            return queryset.in_flight()
        return queryset


class MethodFilter(admin.SimpleListFilter):
    """Methods seen among the most recent rows: one bounded query, not ``DISTINCT`` over the table."""

    title = _("method")
    parameter_name = "method"
    #: How many of the newest rows the choices are taken from.
    sample = 5000
    #: At most this many choices are offered.
    limit = 30

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        recent = model_admin.get_queryset(request).order_by("-pk").values_list("method", flat=True)[: self.sample]
        methods = sorted({m for m in recent if m})[: self.limit]
        current = self.value()
        if current and current not in methods:
            methods.append(current)
        return [(m, m) for m in methods]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        value = self.value()
        return queryset.filter(method=value) if value else queryset


def operation_ids_in(term: str) -> set[int]:
    """The operation ids a search term can mean: decimal digits, ``0x`` hex, or 16 hex digits
    (as the admin shows them; ``0000000000000411`` is tried both as hex and as decimal)."""
    text = term.strip().replace("_", "")
    candidates: set[int] = set()
    is_hex = bool(text) and all(c in "0123456789abcdefABCDEF" for c in text)
    if text.isdigit():
        candidates.add(int(text))
    if text[:2].lower() == "0x" and text[2:] and all(c in "0123456789abcdefABCDEF" for c in text[2:]):
        candidates.add(int(text[2:], 16))
    elif len(text) == 16 and is_hex:
        candidates.add(int(text, 16))
    return {c for c in candidates if 0 <= c <= U64_MAX}


def operation_search_filter(term: str) -> Q:
    """Rows matching ``term``: its operation id (decimal or hex) or a key that starts with it."""
    term = term.strip()
    query = Q(key__startswith=term)
    ids = operation_ids_in(term)
    if ids:
        query |= Q(operation_id__in=sorted(ids))
    return query


class SchemaUseFilter(admin.SimpleListFilter):
    """``?schema=<16 hex digits>``: operations whose response type uses that schema (linked from a
    schema's page; offered only while active, since it scans)."""

    title = _("schema")
    parameter_name = "schema"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        value = self.value()
        return [(value, value)] if value else []

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        from op_store.vox.ids import parse_hash

        from .usage import ancestors, operations_using

        value = self.value()
        if not value:
            return queryset
        try:
            schema_id = parse_hash(value)
        except ValueError:
            return queryset.none()
        return operations_using(ancestors(schema_id, queryset.db), queryset)
