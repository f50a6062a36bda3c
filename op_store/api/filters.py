"""Query-string filters of the list endpoints, validated (a bad value is a 400 problem, not a 500).

They are DRF filter backends with ``get_schema_operation_parameters``, so any OpenAPI generator
(drf-spectacular included) documents them without knowing about op_store.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from rest_framework import serializers
from rest_framework.filters import BaseFilterBackend
from rest_framework.request import Request

from op_store.models import Operation
from op_store.vox.ids import U64_MAX

STATES = tuple(Operation.State.values)


OPERATION_ID_PATTERN = r"^(0[xX][0-9a-fA-F]{1,16}|[0-9]{1,20})$"
STATE_PATTERN = r"^(admitted|sealed|expired)(,(admitted|sealed|expired))*$"


def _parse_u64(text: str) -> int | None:
    """Decimal digits or ``0x`` hex; None for a number past 2**64-1 (no operation has it)."""
    if not re.fullmatch(OPERATION_ID_PATTERN, text):
        raise serializers.ValidationError("an operation id is 1..20 decimal digits or 0x and 1..16 hex digits")
    value = int(text[2:], 16) if text[:2] in ("0x", "0X") else int(text, 10)
    return value if value <= U64_MAX else None


class OperationQuery(serializers.Serializer):
    """The operation filters; every one optional, all combined with AND."""

    state = serializers.CharField(required=False, help_text=f"One or more of {', '.join(STATES)} (comma-separated).")
    scope = serializers.CharField(required=False, allow_blank=True, max_length=255)
    method = serializers.CharField(required=False, allow_blank=True, max_length=255)
    key = serializers.CharField(required=False, allow_blank=True, max_length=255)
    operation_id = serializers.CharField(required=False, help_text="Decimal, or hex with 0x.")
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)
    older_than = serializers.FloatField(required=False, min_value=0, max_value=10**9, help_text="Seconds.")
    lease_expired = serializers.BooleanField(required=False)

    def validate_state(self, value: str) -> list[str]:
        if not re.fullmatch(STATE_PATTERN, value):
            raise serializers.ValidationError(f"state must be among {', '.join(STATES)} (comma-separated)")
        return value.split(",")

    def validate_operation_id(self, value: str) -> int | None:
        return _parse_u64(value)


def _query_dict(request: Request, names: Any) -> dict[str, str]:
    """Plain dict of the known parameters (repeated ``state`` values are joined with commas)."""
    params = request.query_params
    out = {name: params[name] for name in names if name in params and name != "state"}
    if "state" in params:
        out["state"] = ",".join(params.getlist("state"))
    return out


_OPERATION_PARAMETERS = [
    ("state", "string", "Only these states: admitted, sealed, expired (comma-separated or repeated)."),
    ("scope", "string", "Exact scope (whose operation ids these are)."),
    ("method", "string", "Exact method."),
    ("key", "string", "Exact Idempotency-Key."),
    ("operation_id", "string", "Operation id, decimal or 0x-hex."),
    ("created_after", "date-time", "Created at or after this instant (ISO 8601)."),
    ("created_before", "date-time", "Created before this instant (ISO 8601)."),
    ("older_than", "number", "Created more than this many seconds ago."),
    ("lease_expired", "boolean", "Admitted with an expired lease (true) / everything else (false)."),
]


#: Text parameters: no NUL (PostgreSQL text cannot hold it; DRF refuses it), at most 255 characters.
TEXT = {"type": "string", "maxLength": 255, "pattern": "^[^\\u0000]*$"}


def _parameters(spec: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    out = []
    for name, kind, description in spec:
        schema: dict[str, Any] = {"type": kind}
        if kind == "date-time":
            schema = {"type": "string", "format": "date-time"}
        elif kind == "string":
            schema = dict(TEXT)
        out.append({"name": name, "required": False, "in": "query", "description": description, "schema": schema})
    return out


class OperationFilter(BaseFilterBackend):
    """``state``, ``scope``, ``method``, ``key``, ``operation_id``, age and ``lease_expired``."""

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        query = OperationQuery(data=_query_dict(request, OperationQuery().fields))
        query.is_valid(raise_exception=True)
        data = query.validated_data
        now = timezone.now()
        if "state" in data:
            queryset = queryset.filter(state__in=data["state"])
        for name in ("scope", "method", "key"):
            if name in data:
                queryset = queryset.filter(**{name: data[name]})
        if "operation_id" in data:
            wanted = data["operation_id"]
            queryset = queryset.none() if wanted is None else queryset.filter(operation_id=wanted)
        if "created_after" in data:
            queryset = queryset.filter(created_at__gte=data["created_after"])
        if "created_before" in data:
            queryset = queryset.filter(created_at__lt=data["created_before"])
        if "older_than" in data:
            queryset = queryset.filter(created_at__lt=now - timedelta(seconds=data["older_than"]))
        stale = Q(state=Operation.State.ADMITTED, lease_expires_at__lt=now)
        if data.get("lease_expired") is True:
            queryset = queryset.filter(stale)
        elif data.get("lease_expired") is False:
            queryset = queryset.exclude(stale)
        return queryset

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        params = _parameters(_OPERATION_PARAMETERS)
        params[0]["schema"] = {"type": "string", "pattern": STATE_PATTERN}
        params[4]["schema"] = {"type": "string", "pattern": OPERATION_ID_PATTERN}
        params[7]["schema"] = {"type": "number", "minimum": 0, "maximum": 10**9}
        return params


class SchemaQuery(serializers.Serializer):
    kind = serializers.ChoiceField(
        required=False,
        choices=["struct", "enum", "tuple", "list", "map", "array", "option", "channel", "primitive"],
    )
    name = serializers.CharField(
        required=False, allow_blank=True, max_length=255, help_text="Names starting with this."
    )


class SchemaFilter(BaseFilterBackend):
    """``kind`` (exact) and ``name`` (prefix)."""

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        query = SchemaQuery(data=_query_dict(request, SchemaQuery().fields))
        query.is_valid(raise_exception=True)
        data = query.validated_data
        if "kind" in data:
            queryset = queryset.filter(kind=data["kind"])
        if data.get("name"):
            queryset = queryset.filter(name__startswith=data["name"])
        return queryset

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        params = _parameters([("kind", "string", "Exact kind."), ("name", "string", "Names starting with this.")])
        params[0]["schema"] = {"type": "string", "enum": list(SchemaQuery().fields["kind"].choices)}
        return params
