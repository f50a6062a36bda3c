"""The operations admin: a changelist that stays fast on a big table, and a readable detail page."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from op_store.display import DecodedResponse, decode_response
from op_store.models import Operation
from op_store.store.orm import DatabaseSchemaSource, DjangoOperationStore, purge, store_alias

from . import overview
from .filters import LeaseExpiredFilter, MethodFilter, SchemaUseFilter, operation_search_filter
from .highlight import json_html
from .pagination import EstimatedCountPaginator
from .permissions import ReadOnlyByDefaultMixin
from .schemas import closure_html

#: Columns never loaded for the changelist (the payload can be megabytes per row).
HEAVY_FIELDS = ("response", "fingerprint", "root_type")

#: How many operations one "release" action handles (select-across on a huge table stays bounded).
RELEASE_LIMIT = 1000


class OperationChangeList(ChangeList):
    """Loads list rows without their payload: a page of 100 costs what a page of 10 does."""

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet[Any]:
        return super().get_queryset(request, exclude_parameters).defer(*HEAVY_FIELDS)


def compact_time(value: datetime | None) -> str:
    """``2026-05-01 14:03:09`` in the current time zone: narrow columns, sortable by eye."""
    return "-" if value is None else f"{timezone.localtime(value):%Y-%m-%d %H:%M:%S}"


def state_badge(obj: Operation) -> SafeString:
    """The state as a coloured badge; an admitted row whose lease ran out says so."""
    if obj.lease_expired():
        return format_html('<span class="ops-state ops-state-stale">{}</span>', _("lease expired"))
    return format_html('<span class="ops-state ops-state-{}">{}</span>', obj.state, obj.get_state_display())


def render_response(decoded: DecodedResponse) -> SafeString:
    """The decoded payload panel shared by the operation page (see includes/response.html)."""
    body_html = ""
    if decoded.http is not None and decoded.http.body.encoding == "json":
        body_html = json_html(decoded.http.body.value)
    context = {
        "decoded": decoded,
        "value_html": json_html(decoded.value) if decoded.ok and decoded.http is None else "",
        "body_html": body_html,
        "status_class": str(decoded.http.status)[0] if decoded.http is not None else "",
    }
    return render_to_string("admin/op_store/includes/response.html", context)


@admin.register(Operation)
class OperationAdmin(ReadOnlyByDefaultMixin, admin.ModelAdmin):
    """Operations; read-only unless ``OP_STORE["ADMIN_READ_ONLY"]`` is False."""

    list_display = (
        "state_column",
        "scope",
        "operation_id_column",
        "key_column",
        "method",
        "status_code",
        "size_column",
        "created_column",
        "sealed_column",
        "expires_column",
    )
    list_display_links = ("operation_id_column",)
    list_filter = ("state", LeaseExpiredFilter, MethodFilter, "created_at", "sealed_at", SchemaUseFilter)
    search_fields = ("key",)  # shows the search box; the search itself is get_search_results
    search_help_text = _("An operation id (decimal, or hex as 0x… / 16 digits) or the start of a key.")
    # Sorting an unindexed column of a large table is a full sort: newest first (the pk) only.
    sortable_by = ()
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # facet counts are one COUNT per filter choice
    paginator = EstimatedCountPaginator
    list_per_page = 50
    actions = ("release_admitted",)
    readonly_fields = (
        "state_column",
        "operation_id_column",
        "operation_id_decimal",
        "operation_id_hex",
        "lease_status",
        "decoded_response",
        "root_type_display",
        "schema_closure",
        "fingerprint_hex",
    )

    # --- list ----------------------------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        """On the store's database (``OP_STORE["DATABASE"]`` / routers), like the store itself."""
        return super().get_queryset(request).using(store_alias())

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return OperationChangeList

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        if not search_term.strip():
            return queryset, False
        return queryset.filter(operation_search_filter(search_term)), False

    @admin.display(description=_("state"))
    def state_column(self, obj: Operation) -> SafeString:
        return state_badge(obj)

    @admin.display(description=_("operation id"))
    def operation_id_column(self, obj: Operation) -> SafeString:
        """Decimal (what vox clients send) over hex (what logs and traces often show)."""
        return format_html(
            '{}<br><code class="ops-hash ops-hash-small">{}</code>', obj.operation_id, f"{obj.operation_id:016x}"
        )

    @admin.display(description=_("operation id"))
    def operation_id_decimal(self, obj: Operation) -> str:
        return str(obj.operation_id)

    @admin.display(description=_("hex"))
    def operation_id_hex(self, obj: Operation) -> SafeString:
        return format_html('<code class="ops-hash">{}</code>', f"{obj.operation_id:016x}")

    @admin.display(description=_("key"))
    def key_column(self, obj: Operation) -> str:
        return obj.key or "-"

    @admin.display(description=_("size"))
    def size_column(self, obj: Operation) -> str:
        return "-" if obj.response_size is None else str(obj.response_size)

    @admin.display(description=_("created"))
    def created_column(self, obj: Operation) -> str:
        return compact_time(obj.created_at)

    @admin.display(description=_("sealed"))
    def sealed_column(self, obj: Operation) -> str:
        return compact_time(obj.sealed_at)

    @admin.display(description=_("expires"))
    def expires_column(self, obj: Operation) -> str:
        return compact_time(obj.expires_at)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = {**(extra_context or {}), **self.overview_context(request)}
        if self.has_purge_permission(request):
            context["purge_url"] = reverse(f"{self.admin_site.name}:op_store_operation_purge")
        response = super().changelist_view(request, extra_context=context)
        data: dict[str, Any] = getattr(response, "context_data", None) or {}  # none on redirects
        cl = data.get("cl")
        if cl is not None and isinstance(cl.paginator, EstimatedCountPaginator):
            data["result_count_is_estimate"] = cl.paginator.is_estimate
            data["count_cap"] = cl.paginator.cap
        return response

    def overview_context(self, request: HttpRequest) -> dict[str, Any]:
        data = overview.cached(self.model._default_manager.using(self._db(request)))
        changelist = reverse(f"{self.admin_site.name}:op_store_operation_changelist")
        states = [
            {
                "state": value,
                "label": label,
                "count": data.states.get(value, 0),
                "url": f"{changelist}?state__exact={value}",
            }
            for value, label in Operation.State.choices
        ]
        return {
            "overview": {
                "states": states,
                "stale": data.stale,
                "stale_url": f"{changelist}?lease=expired",
                "chart": data.chart(),
                "chart_title": _("Sealed per hour, last %(hours)d hours") % {"hours": overview.HOURS},
            }
        }

    def _db(self, request: HttpRequest) -> str:
        return self.get_queryset(request).db

    # --- detail --------------------------------------------------------------------------------

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        editing = not self.read_only()
        ident = ["scope", "operation_id"] if editing else ["scope", "operation_id_decimal"]
        main = [*ident, "operation_id_hex", "key", "state" if editing else "state_column", "method"]
        return [
            (None, {"fields": main}),
            (_("Response"), {"fields": ["decoded_response", "root_type_display", "schema_closure"]}),
            (
                _("Timeline"),
                {"fields": ["created_at", "lease_expires_at", "lease_status", "sealed_at", "expires_at"]},
            ),
            (
                _("Details"),
                {
                    "fields": ["status_code", "response_size", "transactional", "token", "fingerprint_hex"],
                    "classes": ["collapse"],
                },
            ),
        ]

    def _decoded(self, obj: Operation) -> DecodedResponse | None:
        if obj.state != Operation.State.SEALED:
            return None
        cached = getattr(obj, "_op_store_decoded", None)
        if cached is None:
            source = DatabaseSchemaSource(obj._state.db)
            cached = decode_response(obj.response, obj.root_type, source)
            obj._op_store_decoded = cached  # type: ignore[attr-defined]
        return cached

    @admin.display(description=_("decoded response"))
    def decoded_response(self, obj: Operation) -> SafeString | str:
        decoded = self._decoded(obj)
        if decoded is None:
            if obj.state == Operation.State.EXPIRED:
                return gettext("Purged: the reply was dropped after its retention; a retry gets 410 Gone.")
            return gettext("Not sealed yet: the handler is running, failed without releasing, or its owner is gone.")
        return render_response(decoded)

    @admin.display(description=_("root type"))
    def root_type_display(self, obj: Operation) -> SafeString | str:
        decoded = self._decoded(obj)
        if decoded is None or decoded.root_type is None:
            return "-"
        return format_html("<code>{}</code>", decoded.type_name)

    @admin.display(description=_("schemas"))
    def schema_closure(self, obj: Operation) -> SafeString | str:
        decoded = self._decoded(obj)
        if decoded is None:
            return "-"
        return closure_html(decoded.closure, self.admin_site.name)

    @admin.display(description=_("lease"))
    def lease_status(self, obj: Operation) -> str:
        if obj.state != Operation.State.ADMITTED or obj.lease_expires_at is None:
            return "-"
        if obj.lease_expired():
            return gettext("expired: the owner may be gone (release it to let a retry run again)")
        return gettext("live for %(seconds)d more seconds") % {
            "seconds": (obj.lease_expires_at - timezone.now()).total_seconds()
        }

    @admin.display(description=_("fingerprint"))
    def fingerprint_hex(self, obj: Operation) -> SafeString | str:
        return format_html("<code>{}</code>", obj.fingerprint_hex) if obj.fingerprint is not None else "-"

    # --- release and purge ---------------------------------------------------------------------

    def has_release_permission(self, request: HttpRequest) -> bool:
        """Releasing goes through the store (never breaks its invariants): delete permission suffices,
        whatever ADMIN_READ_ONLY says."""
        return request.user.has_perm(f"{self.opts.app_label}.delete_{self.opts.model_name}")

    has_purge_permission = has_release_permission

    @admin.action(description=_("Release selected admitted operations"), permissions=["release"])
    def release_admitted(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        """Delete the selected admissions (a retry then runs the operation again); sealed and
        expired rows are left alone, as the store's ``remove`` does."""
        admitted = queryset.filter(state=Operation.State.ADMITTED)
        rows = list(admitted.values_list("pk", "scope", "operation_id")[:RELEASE_LIMIT])
        skipped = queryset.exclude(state=Operation.State.ADMITTED).count()
        for _pk, scope, operation_id in rows:
            DjangoOperationStore(scope=scope, using=queryset.db).remove(operation_id)  # admitted only
        left = Operation.objects.using(queryset.db).filter(pk__in=[r[0] for r in rows]).count()  # sealed meanwhile
        released = len(rows) - left
        overview.forget(queryset.db)
        self.message_user(
            request,
            ngettext("Released %(n)d admitted operation.", "Released %(n)d admitted operations.", released)
            % {"n": released},
            messages.SUCCESS if released else messages.WARNING,
        )
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(n)d selected operation was not admitted and was left alone.",
                    "%(n)d selected operations were not admitted and were left alone.",
                    skipped,
                )
                % {"n": skipped},
                messages.WARNING,
            )

    def get_urls(self) -> list[URLPattern]:
        purge_url = path(
            "purge/", self.admin_site.admin_view(self.purge_view), name=f"{self.opts.app_label}_operation_purge"
        )
        return [purge_url, *super().get_urls()]

    def purge_view(self, request: HttpRequest) -> HttpResponse:
        """GET: what a purge would do (dry run). POST: run the store's purge (batched)."""
        if not self.has_purge_permission(request):
            raise PermissionDenied
        db = self._db(request)
        changelist = reverse(f"{self.admin_site.name}:op_store_operation_changelist")
        if request.method == "POST":
            result = purge(using=db)
            overview.forget(db)
            self.message_user(
                request,
                _("Purged: %(expired)d sealed replies became tombstones, %(deleted)d tombstones were deleted.")
                % {"expired": result.expired, "deleted": result.deleted},
                messages.SUCCESS,
            )
            return HttpResponseRedirect(changelist)
        due = purge(using=db, dry_run=True)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Purge expired operations"),
            "due": {"sealed": due.expired, "tombstones": due.deleted},
        }
        return TemplateResponse(request, "admin/op_store/operation/purge.html", context)
