"""What the inspection API returns, as DRF serializers (which also document it in OpenAPI).

u64 values travel as strings: operation ids in decimal (``operation_id``) and in 16 hex digits
(``operation_id_hex``), schema hashes in 16 hex digits, because JSON numbers lose precision past
2**53 in most clients. The decoded ``value`` follows ``op_store.vox.decode_ref``'s JSON shapes.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import serializers
from rest_framework.request import Request

from op_store.display import DecodedResponse, decode_response, schema_summary
from op_store.models import Operation, Schema
from op_store.store.orm import DatabaseSchemaSource
from op_store.vox.ids import format_hash

from .openapi import extend_schema_field

HEX_PATTERN = r"^[0-9a-f]{16}$"


def _absolute(request: Request | None, path: str) -> str:
    return request.build_absolute_uri(path) if request is not None else path


# --- documentation-only shapes (the views build these dicts directly) ------------------------------


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
    type = serializers.CharField(help_text="missing_schema, decode_error, invalid_root_type, ...")
    detail = serializers.CharField()


class DecodedResponseSerializer(serializers.Serializer):
    """A sealed payload decoded through the stored schemas; on error, the raw hex instead."""

    kind = serializers.ChoiceField(choices=["value", "http", "error"])
    size = serializers.IntegerField(help_text="Bytes of postcard.")
    type = serializers.CharField(allow_blank=True, help_text="The root type, Rust-like.")
    value = serializers.JSONField(allow_null=True, help_text="The decoded value (decode_ref's JSON shapes).")
    http = HttpReplySerializer(allow_null=True, help_text="Set when the payload is a sealed HTTP reply.")
    error = DecodeErrorSerializer(allow_null=True)
    hex = serializers.CharField(required=False, help_text="Raw bytes (at most 64 KiB), present on error.")
    hex_truncated = serializers.BooleanField(required=False)


class ClosureEntrySerializer(serializers.Serializer):
    id = serializers.RegexField(HEX_PATTERN)
    url = serializers.CharField()
    name = serializers.CharField(allow_blank=True)
    kind = serializers.CharField(allow_blank=True)
    missing = serializers.BooleanField()


class SchemaDefinitionSerializer(serializers.Serializer):
    """``Schema.to_json()`` plus a readable declaration; ``Schema.from_json`` reads it back."""

    id = serializers.RegexField(HEX_PATTERN)
    type_params = serializers.ListField(child=serializers.CharField())
    kind = serializers.DictField(help_text='The kind, tagged: {"tag": "struct", "name": ..., "fields": [...]}, ...')
    declaration = serializers.CharField()


class RootSerializer(serializers.Serializer):
    operations = serializers.URLField()
    schemas = serializers.URLField()
    stats = serializers.URLField()
    purge = serializers.URLField()


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
    """One operation with its root type, schema closure and the decoded payload."""

    root_type = serializers.JSONField(read_only=True, allow_null=True, help_text="TypeRef.to_json() form.")
    type = serializers.SerializerMethodField()
    fingerprint = serializers.SerializerMethodField()
    response = serializers.SerializerMethodField()
    schemas = serializers.SerializerMethodField()

    class Meta(OperationSerializer.Meta):
        fields = (*OperationSerializer.Meta.fields, "root_type", "type", "fingerprint", "response", "schemas")
        read_only_fields = fields

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
        """Hex of the stored request fingerprint (a BLAKE3 digest)."""
        return obj.fingerprint_hex or None

    @extend_schema_field(DecodedResponseSerializer(allow_null=True))
    def get_response(self, obj: Operation) -> dict[str, Any] | None:
        decoded = self._decoded(obj)
        return decoded.to_json() if decoded is not None else None

    @extend_schema_field(ClosureEntrySerializer(many=True))
    def get_schemas(self, obj: Operation) -> list[dict[str, Any]]:
        decoded = self._decoded(obj)
        if decoded is None:
            return []
        request = self.context.get("request")
        return [
            {
                "id": entry.hex,
                "url": _absolute(request, reverse("op_store_api:schema-detail", args=[entry.hex])),
                "name": entry.schema.name if entry.schema is not None else "",
                "kind": entry.schema.kind.tag if entry.schema is not None else "",
                "missing": entry.schema is None,
            }
            for entry in decoded.closure
        ]


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
    """The schema detail body: the stored ``Schema.to_json()`` plus its declaration."""
    from op_store.display import declaration

    schema = obj.to_vox()
    return {**schema.to_json(), "declaration": declaration(schema, DatabaseSchemaSource(obj._state.db))}


__all__ = [
    "DecodedResponseSerializer",
    "OperationDetailSerializer",
    "OperationSerializer",
    "ProblemSerializer",
    "SchemaSerializer",
    "schema_definition",
]
