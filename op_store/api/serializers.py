"""What the inspection API returns, as DRF serializers (which also document it in OpenAPI).

u64 values travel as strings: operation ids in decimal (``operation_id``) and in 16 hex digits
(``operation_id_hex``), schema hashes in 16 hex digits, because JSON numbers lose precision past
2**53 in most clients. The decoded ``value`` follows ``op_store.vox.decode_ref``'s JSON shapes.
"""

from __future__ import annotations

import warnings
from typing import Any

from django.urls import reverse
from rest_framework import serializers
from rest_framework.request import Request

from op_store.display import ClosureEntry, DecodedResponse, decode_response, schema_summary
from op_store.models import Operation, Schema
from op_store.permissions import PAYLOAD_FIELDS, may_view_payload
from op_store.schema_json import schema_document
from op_store.store import DatabaseSchemaSource
from op_store.vox.ids import format_hash

from .openapi import extend_schema_field

HEX_PATTERN = r"^[0-9a-f]{16}$"


def _absolute(request: Request | None, path: str) -> str:
    return request.build_absolute_uri(path) if request is not None else path


# --- response bodies: the views serialize through these, so the OpenAPI document is what they send ---


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details (``application/problem+json``)."""

    type = serializers.CharField(help_text="urn:op-store:problem:<code>")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField(help_text="Stable, kebab-case: not-found, permission-denied, invalid, ...")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Validation errors by field (only for code invalid).",
    )


class HttpBodySerializer(serializers.Serializer):
    encoding = serializers.ChoiceField(choices=["json", "text", "base64", "empty"])
    content_type = serializers.CharField(allow_blank=True)
    size = serializers.IntegerField()
    value = serializers.JSONField(help_text="Parsed JSON, text, or base64 of a binary body.")


class HttpReplySerializer(serializers.Serializer):
    status = serializers.IntegerField()
    reason = serializers.CharField(allow_blank=True)
    headers = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))
    body = HttpBodySerializer()


class DecodeErrorSerializer(serializers.Serializer):
    """Why the payload could not be decoded; null when it was."""

    type = serializers.CharField(source="error_type", help_text="missing_schema, decode_error, invalid_root_type, ...")
    detail = serializers.CharField(source="error")

    def to_representation(self, instance: DecodedResponse) -> dict[str, Any] | None:
        return None if instance.ok else super().to_representation(instance)


class DecodedResponseSerializer(serializers.Serializer):
    """A sealed payload decoded through the stored schemas; on error, the raw hex instead."""

    kind = serializers.ChoiceField(choices=["value", "http", "error"])
    size = serializers.IntegerField(help_text="Bytes of postcard.")
    type = serializers.CharField(source="type_name", allow_blank=True, help_text="The root type, Rust-like.")
    value = serializers.SerializerMethodField()
    http = HttpReplySerializer(allow_null=True, help_text="Set when the payload is a sealed HTTP reply.")
    error = DecodeErrorSerializer(source="*", allow_null=True)
    hex = serializers.CharField(required=False, help_text="Raw bytes (at most 64 KiB), present on error.")
    hex_truncated = serializers.BooleanField(required=False)

    @extend_schema_field(
        serializers.JSONField(allow_null=True, help_text="The decoded value (decode_ref's JSON shapes).")
    )
    def get_value(self, decoded: DecodedResponse) -> Any:
        return decoded.value if decoded.kind == "value" else None  # an HTTP reply is in "http"

    def to_representation(self, instance: DecodedResponse) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(instance)
        if instance.ok:  # the raw bytes only travel when they are all there is to read
            del data["hex"], data["hex_truncated"]
        return data


class ClosureEntrySerializer(serializers.Serializer):
    id = serializers.RegexField(HEX_PATTERN, source="hex")
    url = serializers.SerializerMethodField()
    name = serializers.SerializerMethodField()
    kind = serializers.SerializerMethodField()
    missing = serializers.SerializerMethodField()

    def get_url(self, entry: ClosureEntry) -> str:
        return _absolute(self.context.get("request"), reverse("op_store_api:schema-detail", args=[entry.hex]))

    def get_name(self, entry: ClosureEntry) -> str:
        return entry.schema.name if entry.schema is not None else ""

    def get_kind(self, entry: ClosureEntry) -> str:
        return entry.schema.kind.tag if entry.schema is not None else ""

    def get_missing(self, entry: ClosureEntry) -> bool:
        return entry.schema is None


class SchemaDefinitionSerializer(serializers.Serializer):
    """``Schema.to_json()`` plus a readable declaration; ``Schema.from_json`` reads it back."""

    # The view returns op_store.schema_json.schema_document itself (one body for every endpoint
    # that serves schemas by hash); this serializer documents it, and a test keeps the two equal.

    id = serializers.RegexField(HEX_PATTERN)
    type_params = serializers.ListField(child=serializers.CharField())
    kind = serializers.DictField(help_text='The kind, tagged: {"tag": "struct", "name": ..., "fields": [...]}, ...')
    declaration = serializers.CharField()


class RootSerializer(serializers.Serializer):
    operations = serializers.URLField()
    schemas = serializers.URLField()
    stats = serializers.URLField()
    purge = serializers.URLField()
    # With drf-spectacular installed (docs/api.md): the OpenAPI document and its two readers.
    schema = serializers.URLField(required=False, help_text="The OpenAPI document.")
    docs = serializers.URLField(required=False, help_text="The document in Swagger UI.")
    redoc = serializers.URLField(required=False, help_text="The document in Redoc.")


class StatsSerializer(serializers.Serializer):
    database = serializers.CharField()
    operations = serializers.DictField(child=serializers.IntegerField(), help_text="Counts per state.")
    total = serializers.IntegerField()
    stale = serializers.IntegerField(help_text="Admitted, lease expired.")
    expired_due = serializers.IntegerField(help_text="Sealed past retention (the next purge expires them).")
    tombstones_due = serializers.IntegerField(help_text="Tombstones past theirs (the next purge deletes them).")
    response_bytes = serializers.IntegerField(help_text="Bytes of sealed replies.")
    schemas = serializers.IntegerField()


class JSONBooleanField(serializers.BooleanField):
    """Only JSON ``true``/``false``: a body saying ``0`` or ``"yes"`` is a mistake worth a 400."""

    def to_internal_value(self, data: Any) -> bool:
        if isinstance(data, bool):
            return data
        self.fail("invalid", input=data)
        raise AssertionError("unreachable")  # pragma: no cover


class PurgeRequestSerializer(serializers.Serializer):
    dry_run = JSONBooleanField(default=False, help_text="Only count what a purge would do.")


class PurgeResultSerializer(serializers.Serializer):
    expired = serializers.IntegerField(help_text="Sealed replies turned into tombstones.")
    deleted = serializers.IntegerField(help_text="Tombstones deleted.")
    batches = serializers.IntegerField()
    duration = serializers.FloatField(help_text="Seconds.")
    dry_run = serializers.BooleanField()


# --- operations ------------------------------------------------------------------------------------


class OperationSerializer(serializers.ModelSerializer):
    """One operation as listed: everything but the payload (lists never load it)."""

    url = serializers.SerializerMethodField()
    operation_id = serializers.SerializerMethodField()
    operation_id_hex = serializers.SerializerMethodField()
    lease_expired = serializers.SerializerMethodField()

    class Meta:
        model = Operation
        fields: tuple[str, ...] = (
            "id",
            "url",
            "scope",
            "operation_id",
            "operation_id_hex",
            "key",
            "state",
            "method",
            "status_code",
            "response_size",
            "transactional",
            "lease_expired",
            "created_at",
            "lease_expires_at",
            "sealed_at",
            "expires_at",
        )
        read_only_fields: tuple[str, ...] = fields

    def get_url(self, obj: Operation) -> str:
        return _absolute(self.context.get("request"), reverse("op_store_api:operation-detail", args=[obj.pk]))

    def get_operation_id(self, obj: Operation) -> str:
        """Decimal digits (a u64 does not fit a JSON number safely)."""
        return str(obj.operation_id)

    def get_operation_id_hex(self, obj: Operation) -> str:
        return f"{obj.operation_id:016x}"

    def get_lease_expired(self, obj: Operation) -> bool:
        return obj.lease_expired()


class OperationDetailSerializer(OperationSerializer):
    """One operation with its root type, schema closure and the decoded payload.

    The payload fields (``response``, ``fingerprint``) of another user's operation are null for a
    caller without ``view_payload`` (:mod:`op_store.permissions`), and ``withheld`` names them, so
    a withheld reply is not mistaken for a missing one.
    """

    root_type = serializers.JSONField(read_only=True, allow_null=True, help_text="TypeRef.to_json() form.")
    type = serializers.SerializerMethodField()
    fingerprint = serializers.SerializerMethodField()
    response = serializers.SerializerMethodField()
    schemas = serializers.SerializerMethodField()
    withheld = serializers.SerializerMethodField()

    class Meta(OperationSerializer.Meta):
        fields = (
            *OperationSerializer.Meta.fields,
            "root_type",
            "type",
            "fingerprint",
            "response",
            "schemas",
            "withheld",
        )
        read_only_fields = fields

    def _payload_shown(self, obj: Operation) -> bool:
        request = self.context.get("request")
        return may_view_payload(getattr(request, "user", None), obj.scope)

    def _decoded(self, obj: Operation) -> DecodedResponse | None:
        if obj.state != Operation.State.SEALED:
            return None
        cache = self.context.setdefault("_decoded", {})
        if obj.pk not in cache:
            cache[obj.pk] = decode_response(obj.response, obj.root_type, DatabaseSchemaSource(obj._state.db))
        decoded: DecodedResponse = cache[obj.pk]
        return decoded

    def get_type(self, obj: Operation) -> str | None:
        """The root type, Rust-like (``Result<Point, String>``); null unless sealed."""
        decoded = self._decoded(obj)
        return decoded.type_name if decoded is not None else None

    def get_fingerprint(self, obj: Operation) -> str | None:
        """Hex of the stored request fingerprint (a BLAKE3 digest); null when withheld."""
        return (obj.fingerprint_hex or None) if self._payload_shown(obj) else None

    @extend_schema_field(DecodedResponseSerializer(allow_null=True))
    def get_response(self, obj: Operation) -> dict[str, Any] | None:
        if not self._payload_shown(obj):
            return None
        decoded = self._decoded(obj)
        return DecodedResponseSerializer(decoded).data if decoded is not None else None

    @extend_schema_field(ClosureEntrySerializer(many=True))
    def get_schemas(self, obj: Operation) -> list[dict[str, Any]]:
        decoded = self._decoded(obj)
        if decoded is None:
            return []
        return list(ClosureEntrySerializer(decoded.closure, many=True, context=self.context).data)

    @extend_schema_field(
        serializers.ListField(
            child=serializers.ChoiceField(choices=PAYLOAD_FIELDS),
            help_text="The fields nulled because the caller may not read this operation's payload "
            "(another user's scope, no view_payload permission); empty when nothing is withheld.",
        )
    )
    def get_withheld(self, obj: Operation) -> list[str]:
        return [] if self._payload_shown(obj) else list(PAYLOAD_FIELDS)


# --- schemas ---------------------------------------------------------------------------------------


class SchemaSerializer(serializers.ModelSerializer):
    """One stored schema as listed (the definition is at ``url``)."""

    id = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    type_params = serializers.SerializerMethodField()
    summary = serializers.SerializerMethodField()

    class Meta:
        model = Schema
        fields = ("id", "url", "kind", "name", "type_params", "summary", "created_at")
        read_only_fields = fields

    def get_id(self, obj: Schema) -> str:
        """The schema hash, 16 hex digits."""
        return format_hash(obj.pk)

    def get_url(self, obj: Schema) -> str:
        return _absolute(self.context.get("request"), reverse("op_store_api:schema-detail", args=[obj.hash_hex]))

    def get_type_params(self, obj: Schema) -> list[str]:
        params = obj.definition.get("type_params", []) if isinstance(obj.definition, dict) else []
        return [str(p) for p in params]

    def get_summary(self, obj: Schema) -> str:
        """``struct Point``, ``enum Result<T, E>``, ``list<T>``, ``u32``."""
        try:
            return schema_summary(obj.to_vox())
        except (KeyError, TypeError, ValueError):
            return obj.kind


def schema_definition(obj: Schema) -> dict[str, Any]:
    """Deprecated: :func:`op_store.schema_json.schema_document` of the stored schema."""
    warnings.warn(
        "op_store.api.serializers.schema_definition is deprecated: use op_store.schema_json.schema_document",
        DeprecationWarning,
        stacklevel=2,
    )
    return schema_document(obj.to_vox(), DatabaseSchemaSource(obj._state.db))


__all__ = [
    "DecodedResponseSerializer",
    "OperationDetailSerializer",
    "OperationSerializer",
    "ProblemSerializer",
    "SchemaSerializer",
    "schema_definition",
]
