"""The schemas admin: hash in hex, a readable declaration, and who uses each schema."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from django.contrib import admin
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from op_store.display import ClosureEntry, declaration_tokens, schema_summary
from op_store.models import Schema
from op_store.store.orm import DatabaseSchemaSource, store_alias
from op_store.vox.ids import parse_hash
from op_store.vox.schema import SchemaRegistry

from .highlight import json_html, tokens_html
from .pagination import EstimatedCountPaginator
from .usage import operations_using_schema, parents

#: Operations listed on a schema's page (the full list is one click away) and the counting cap.
USED_BY_SHOWN = 10
USED_BY_COUNT_CAP = 1000


def _db(obj: Schema) -> str:
    return obj._state.db or DEFAULT_DB_ALIAS


def schema_url(schema_id: int, site_name: str = "admin") -> str | None:
    try:
        return reverse(f"{site_name}:op_store_schema_change", args=[schema_id])
    except NoReverseMatch:
        return None


def closure_html(entries: Sequence[ClosureEntry], site_name: str = "admin") -> SafeString:
    """A response's schema closure: each hash linked to its schema page, with its declaration."""
    registry = SchemaRegistry(e.schema for e in entries if e.schema is not None)
    items = [
        {
            "hex": entry.hex,
            "url": schema_url(entry.schema_id, site_name) if entry.schema is not None else None,
            "declaration": (
                tokens_html(declaration_tokens(entry.schema, registry, width=10_000))
                if entry.schema is not None
                else ""
            ),
        }
        for entry in entries
    ]
    return render_to_string("admin/op_store/includes/closure.html", {"entries": items})


@admin.register(Schema)
class SchemaAdmin(admin.ModelAdmin):
    """Schemas are content-addressed and shared by every reply that needs them: always read-only."""

    list_display = ("hash_column", "kind", "name", "summary", "created_at")
    list_display_links = ("hash_column",)
    list_filter = ("kind",)
    search_fields = ("name",)
    search_help_text = _("A schema hash (16 hex digits) or the start of a name.")
    sortable_by = ("name", "created_at")
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 100
    fields = (
        "hash_column",
        "kind",
        "name",
        "type_params",
        "declaration_html",
        "used_by_schemas",
        "used_by_operations",
        "definition_html",
        "created_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Every stored schema has its whole closure stored; deleting one would break replays.
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        """On the store's database (``OP_STORE["DATABASE"]`` / routers), like the store itself."""
        return super().get_queryset(request).using(store_alias())

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        query = Q(name__startswith=term)
        with contextlib.suppress(ValueError):
            query |= Q(pk=parse_hash(term))
        return queryset.filter(query), False

    @admin.display(description=_("hash"), ordering="pk")
    def hash_column(self, obj: Schema) -> SafeString:
        return format_html('<code class="ops-hash">{}</code>', obj.hash_hex)

    @admin.display(description=_("summary"))
    def summary(self, obj: Schema) -> str:
        try:
            return schema_summary(obj.to_vox())
        except (KeyError, TypeError, ValueError):
            return gettext("(unreadable definition)")

    @admin.display(description=_("type parameters"))
    def type_params(self, obj: Schema) -> str:
        try:
            return ", ".join(obj.to_vox().type_params) or "-"
        except (KeyError, TypeError, ValueError):
            return "-"

    @admin.display(description=_("declaration"))
    def declaration_html(self, obj: Schema) -> SafeString | str:
        try:
            schema = obj.to_vox()
        except (KeyError, TypeError, ValueError) as exc:
            return format_html('<p class="ops-error">{}</p>', exc)
        tokens = declaration_tokens(schema, DatabaseSchemaSource(obj._state.db))
        return format_html('<pre class="ops-code">{}</pre>', tokens_html(tokens))

    @admin.display(description=_("definition (JSON)"))
    def definition_html(self, obj: Schema) -> SafeString:
        return format_html('<pre class="ops-code">{}</pre>', json_html(obj.definition))

    @admin.display(description=_("used by schemas"))
    def used_by_schemas(self, obj: Schema) -> SafeString | str:
        rows = list(parents(obj.pk, _db(obj)).values_list("pk", "kind", "name")[: USED_BY_SHOWN + 1])
        if not rows:
            return "-"
        items = [
            (schema_url(pk, self.admin_site.name) or "#", f"{pk:016x}", f"{kind} {name}".strip())
            for pk, kind, name in rows[:USED_BY_SHOWN]
        ]
        more = "…" if len(rows) > USED_BY_SHOWN else ""
        listed = format_html_join("", '<li><a href="{}"><code class="ops-hash">{}</code></a> {}</li>', items)
        return format_html('<ul class="ops-closure">{}</ul>{}', listed, more)

    @admin.display(description=_("used by operations"))
    def used_by_operations(self, obj: Schema) -> SafeString | str:
        operations = operations_using_schema(obj.pk, _db(obj)).order_by("-pk")
        count = operations[: USED_BY_COUNT_CAP + 1].count()
        if not count:
            return gettext("No stored operation uses it.")
        shown = list(operations.values_list("pk", "scope", "operation_id", "key", "state")[:USED_BY_SHOWN])
        site = self.admin_site.name
        items = [
            (reverse(f"{site}:op_store_operation_change", args=[pk]), f"{scope}/" if scope else "", key or op_id, state)
            for pk, scope, op_id, key, state in shown
        ]
        listed = format_html_join("", '<li><a href="{}">{}{}</a> ({})</li>', items)
        if count > USED_BY_COUNT_CAP:
            used = gettext("More than %(count)d operations (directly or through another schema)") % {
                "count": USED_BY_COUNT_CAP
            }
        else:
            used = ngettext(
                "%(count)d operation (directly or through another schema)",
                "%(count)d operations (directly or through another schema)",
                count,
            ) % {"count": count}
        changelist = reverse(f"{site}:op_store_operation_changelist")
        return format_html(
            '<p>{} · <a href="{}?schema={}">{}</a></p><ul class="ops-closure">{}</ul>',
            used,
            changelist,
            obj.hash_hex,
            _("list them"),
            listed,
        )
