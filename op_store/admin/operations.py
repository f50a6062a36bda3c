"""The operations admin: a changelist that stays fast on a big table, and a readable detail page."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import BinaryField, QuerySet
from django.db.models.functions import Substr
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from op_store import _compat
from op_store.display import DecodedResponse, decode_response, reply_variant
from op_store.models import Operation, ReleaseResult
from op_store.store import DatabaseSchemaSource, purge
from op_store.store.orm import store_alias

from . import overview
from .filters import LeaseExpiredFilter, MethodFilter, SchemaUseFilter, operation_search_filter
from .highlight import json_html
from .pagination import EstimatedCountPaginator
from .permissions import ReadOnlyByDefaultMixin, may_purge, may_release, may_view_payload
from .schemas import closure_html

#: Columns never loaded for the changelist (the payload can be megabytes per row).
HEAVY_FIELDS = ("response", "fingerprint")

#: The detail page's timestamps: to the second when read-only (Django's default format stops at the
#: minute); the model fields themselves when the admin may edit.
TIMELINE = ["created_time", "lease_expires_time", "lease_status", "sealed_time", "expires_time"]
TIMELINE_EDIT = ["created_at", "lease_expires_at", "lease_status", "sealed_at", "expires_at"]

#: Longer scopes and keys are shortened in the list.
LIST_TEXT_LIMIT = 32

#: How many selected operations one "release" action handles (bulk releases: ``op_store_release``).
RELEASE_LIMIT = 1000


class OperationChangeList(ChangeList):
    """Loads list rows without their payload (only its first byte, which tells ``Ok`` from ``Err``):
    a page of 100 costs what a page of 10 does."""

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet[Any]:
        head = Substr("response", 1, 1, output_field=BinaryField())
        rows = _compat.changelist_queryset(super().get_queryset, request, exclude_parameters)
        return rows.defer(*HEAVY_FIELDS).annotate(reply_head=head)


def compact_time(value: datetime | None) -> str:
    """``2026-05-01 14:03:09`` in the current time zone: narrow columns, sortable by eye."""
    return "-" if value is None else f"{timezone.localtime(value):%Y-%m-%d %H:%M:%S}"


def shortened(text: str, limit: int = LIST_TEXT_LIMIT) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis (a key can be 255 characters long; its
    page shows it whole, and the search matches any prefix)."""
    if not text:
        return "-"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def full_time(value: datetime | None) -> str:
    """``2026-05-01 14:03:09 UTC`` (to the second, with the zone): the detail page's timestamps."""
    return "-" if value is None else f"{timezone.localtime(value):%Y-%m-%d %H:%M:%S %Z}"


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


def reply_badge(obj: Operation) -> SafeString | str:
    """What a sealed reply says at a glance: ``Ok``/``Err`` for a ``Result`` (an RPC reply), else
    the HTTP status; an error in red. Reads only the payload's first byte (see the changelist)."""
    variant = reply_variant(obj.root_type, getattr(obj, "reply_head", None)) if obj.root_type is not None else None
    if variant is not None:
        return format_html('<span class="ops-reply ops-reply-{}">{}</span>', variant.lower(), variant)
    if obj.status_code is not None and obj.state == Operation.State.SEALED:
        level = "err" if obj.status_code >= 400 else "ok"
        return format_html('<span class="ops-reply ops-reply-{}">{}</span>', level, obj.status_code)
    return "-"


def release_messages(result: ReleaseResult) -> list[tuple[int, str]]:
    """The admin's messages for a release: what happened to each kind of row, most important first."""
    out: list[tuple[int, str]] = [
        (
            messages.SUCCESS if result.released else messages.WARNING,
            ngettext("Released %(n)d admitted operation.", "Released %(n)d admitted operations.", result.released)
            % {"n": result.released},
        )
    ]
    if result.not_admitted:
        text = ngettext(
            "%(n)d selected operation was not admitted and was left alone.",
            "%(n)d selected operations were not admitted and were left alone.",
            result.not_admitted,
        )
        out.append((messages.WARNING, text % {"n": result.not_admitted}))
    if result.busy:
        text = ngettext(
            "%(n)d operation was being sealed at that moment and was left alone.",
            "%(n)d operations were being sealed at that moment and were left alone.",
            result.busy,
        )
        out.append((messages.WARNING, text % {"n": result.busy}))
    if result.missing:
        text = ngettext(
            "%(n)d operation was already gone.",
            "%(n)d operations were already gone.",
            result.missing,
        )
        out.append((messages.INFO, text % {"n": result.missing}))
    return out


def release_panel(obj: Operation, url: str) -> dict[str, Any]:
    """The release box of an admitted operation's page: what releasing means for this one."""
    if obj.lease_expired():
        head = gettext("Its lease expired at %(time)s: the process that admitted it may be gone.") % {
            "time": full_time(obj.lease_expires_at)
        }
    else:
        head = gettext("In flight: its handler may still be running (the lease ends at %(time)s).") % {
            "time": full_time(obj.lease_expires_at)
        }
    if obj.transactional:
        effect = gettext("It ran in its seal's transaction, so nothing it wrote was committed: releasing is safe.")
    else:
        effect = gettext("Its handler may have had effects before it stopped: a retry may repeat them.")
    return {
        "url": url,
        "stale": obj.lease_expired(),
        "text": " ".join((head, gettext("Releasing deletes the admission: a retry runs the operation again."), effect)),
    }


@admin.register(Operation)
class OperationAdmin(ReadOnlyByDefaultMixin, admin.ModelAdmin):
    """Operations; read-only unless ``OP_STORE["ADMIN_READ_ONLY"]`` is False."""

    # What a person scans a list for; sizes and the other timestamps are on each operation's page.
    list_display = (
        "state_column",
        "operation_id_column",
        "scope_column",
        "key_column",
        "method",
        "reply_column",
        "created_column",
    )
    list_display_links = ("operation_id_column",)
    list_filter = ("state", LeaseExpiredFilter, MethodFilter, "created_at", "sealed_at", SchemaUseFilter)
    search_fields = ("key",)  # shows the search box; the search itself is get_search_results
    search_help_text = _("An operation id (decimal, or hex as 0x… / 16 digits) or the start of a key.")
    # Sorting an unindexed column of a large table is a full sort: newest first (the pk) only.
    sortable_by = ()
    show_full_result_count = False
    show_facets = _compat.never_show_facets()  # facet counts are one COUNT per filter choice
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
        "payload_withheld",
        "root_type_display",
        "schema_closure",
        "fingerprint_hex",
        *TIMELINE,
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
        return shortened(obj.key)

    @admin.display(description=_("scope"))
    def scope_column(self, obj: Operation) -> str:
        return shortened(obj.scope)

    @admin.display(description=_("reply"))
    def reply_column(self, obj: Operation) -> SafeString | str:
        return reply_badge(obj)

    @admin.display(description=_("created"))
    def created_column(self, obj: Operation) -> str:
        return compact_time(obj.created_at)

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
        # Another user's reply (and request fingerprint) needs view_payload: op_store.permissions.
        shown = obj is None or may_view_payload(request, obj.scope)
        reply = "decoded_response" if shown else "payload_withheld"
        details = ["status_code", "response_size", "transactional", "token"] + (["fingerprint_hex"] if shown else [])
        return [
            (None, {"fields": main}),
            (_("Response"), {"fields": [reply, "root_type_display", "schema_closure"]}),
            (
                _("Timeline"),
                {"fields": TIMELINE_EDIT if editing else TIMELINE},
            ),
            (
                _("Details"),
                {"fields": details, "classes": ["collapse"]},
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

    @admin.display(description=_("decoded response"))
    def payload_withheld(self, obj: Operation) -> str:
        return gettext(
            "Withheld: this reply belongs to another user's scope; reading it needs the "
            "“Can view the replies of other users' operations” permission."
        )

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

    @admin.display(description=Operation._meta.get_field("created_at").verbose_name)
    def created_time(self, obj: Operation) -> str:
        return full_time(obj.created_at)

    @admin.display(description=Operation._meta.get_field("lease_expires_at").verbose_name)
    def lease_expires_time(self, obj: Operation) -> str:
        return full_time(obj.lease_expires_at)

    @admin.display(description=Operation._meta.get_field("sealed_at").verbose_name)
    def sealed_time(self, obj: Operation) -> str:
        return full_time(obj.sealed_at)

    @admin.display(description=Operation._meta.get_field("expires_at").verbose_name)
    def expires_time(self, obj: Operation) -> str:
        return full_time(obj.expires_at)

    @admin.display(description=_("lease"))
    def lease_status(self, obj: Operation) -> str:
        if obj.state != Operation.State.ADMITTED or obj.lease_expires_at is None:
            return "-"
        if obj.lease_expired():
            return gettext("expired: the owner may be gone (release it to let a retry run it again)")
        seconds = int((obj.lease_expires_at - timezone.now()).total_seconds())
        return ngettext("live for %(seconds)d more second", "live for %(seconds)d more seconds", seconds) % {
            "seconds": seconds
        }

    @admin.display(description=_("fingerprint"))
    def fingerprint_hex(self, obj: Operation) -> SafeString | str:
        return format_html("<code>{}</code>", obj.fingerprint_hex) if obj.fingerprint is not None else "-"

    # --- release and purge ---------------------------------------------------------------------

    def has_release_permission(self, request: HttpRequest) -> bool:
        return may_release(request)

    def has_purge_permission(self, request: HttpRequest) -> bool:
        return may_purge(request)

    @admin.action(description=_("Release selected admitted operations"), permissions=["release"])
    def release_admitted(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        """Delete the selected admissions (a retry then runs the operation again); sealed and
        expired rows are left alone, as the store's ``remove`` does."""
        selected = list(queryset.values_list("pk", flat=True)[: RELEASE_LIMIT + 1])
        if len(selected) > RELEASE_LIMIT:
            self.message_user(
                request,
                _(
                    "More than %(limit)d operations are selected: nothing was released. Narrow the selection, "
                    "or release stale admissions in bulk with manage.py op_store_release."
                )
                % {"limit": RELEASE_LIMIT},
                messages.ERROR,
            )
            return
        result = Operation.objects.using(queryset.db).release_admitted(selected)
        overview.forget(queryset.db)
        for level, text in release_messages(result):
            self.message_user(request, text, level)

    def release_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST only: release one admitted operation (the button on its page)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_release_permission(request):
            raise PermissionDenied
        obj = self.get_object(request, object_id)
        if obj is None:
            result = ReleaseResult(missing=1)
        else:
            db = obj._state.db or self._db(request)
            result = Operation.objects.using(db).release_admitted([obj.pk])
            overview.forget(db)
        for level, text in release_messages(result):
            self.message_user(request, text, level)
        if obj is None or result.released or result.missing:
            return HttpResponseRedirect(reverse(f"{self.admin_site.name}:op_store_operation_changelist"))
        return HttpResponseRedirect(reverse(f"{self.admin_site.name}:op_store_operation_change", args=[obj.pk]))

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> HttpResponse:
        if obj is not None and obj.state == Operation.State.ADMITTED and self.has_release_permission(request):
            url = reverse(f"{self.admin_site.name}:op_store_operation_release", args=[obj.pk])
            context["release"] = release_panel(obj, url)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self) -> list[URLPattern]:
        label = self.opts.app_label
        own = [
            path("purge/", self.admin_site.admin_view(self.purge_view), name=f"{label}_operation_purge"),
            path(
                "<path:object_id>/release/",
                self.admin_site.admin_view(self.release_view),
                name=f"{label}_operation_release",
            ),
        ]
        return [*own, *super().get_urls()]

    def purge_view(self, request: HttpRequest) -> HttpResponse:
        """GET: what a purge would do (dry run). POST: run the store's purge (batched)."""
        if not self.has_purge_permission(request):
            raise PermissionDenied
        db = self._db(request)
        changelist = reverse(f"{self.admin_site.name}:op_store_operation_changelist")
        if request.method == "POST":
            result = purge(using=db)
            overview.forget(db)
            expired = ngettext(
                "%(n)d sealed reply became a tombstone", "%(n)d sealed replies became tombstones", result.expired
            ) % {"n": result.expired}
            deleted = ngettext("%(n)d tombstone was deleted", "%(n)d tombstones were deleted", result.deleted) % {
                "n": result.deleted
            }
            self.message_user(
                request,
                gettext("Purged: %(expired)s, %(deleted)s.") % {"expired": expired, "deleted": deleted},
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
