"""Query-string filters of the list endpoints, validated (a bad value is a 400 problem, not a 500).

Values are taken as sent: no whitespace trimming, ASCII digits only in numbers and instants (Python's
``int``, ``float`` and ``\\d`` accept other scripts' digits), and a parameter other than ``state``
given twice is refused rather than one of its values silently chosen.

Each parameter is defined once, as a field of a query serializer: its type, bounds, pattern and
help text both validate the request and, through :func:`parameter_schema`, document it (the filter
backends' ``get_schema_operation_parameters``, which any OpenAPI generator reads).
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from rest_framework import serializers
from rest_framework.filters import BaseFilterBackend
from rest_framework.request import Request

from op_store.models import Operation, OperationQuerySet
from op_store.vox.ids import U64_MAX

STATES = tuple(Operation.State.values)

OPERATION_ID_PATTERN = r"^(0[xX][0-9a-fA-F]{1,16}|[0-9]{1,20})$"
STATE_PATTERN = r"^(admitted|sealed|expired)(,(admitted|sealed|expired))*$"
#: Text parameters: no NUL (PostgreSQL text cannot hold it; DRF refuses it).
TEXT_PATTERN = r"^[^\u0000]*$"
#: A decimal number as JSON writes one (ASCII digits only; no "nan" or "inf"); bounds are the field's.
NUMBER_PATTERN = r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?"
#: The characters of an ISO 8601 instant (the field parses it; this keeps non-ASCII digits out).
INSTANT_PATTERN = r"[0-9T:.+\-Zz ]{1,40}"

#: Parameters that may be repeated (their values are joined with commas).
REPEATABLE = frozenset({"state"})


def single_value(request: Request, name: str) -> str | None:
    """The one value of query parameter ``name`` (None when absent); a 400 problem when repeated."""
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise serializers.ValidationError({name: ["given more than once"]})
    return values[0] if values else None


class PatternField(serializers.CharField):
    """Text matching ``pattern`` in full (``re.fullmatch``), as sent (never trimmed)."""

    def __init__(self, pattern: str, *, message: str = "", **kwargs: Any) -> None:
        super().__init__(trim_whitespace=False, **kwargs)
        self.pattern = pattern
        self.message = message or f"must match {pattern}"

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if not re.fullmatch(self.pattern, value):
            raise serializers.ValidationError(self.message)
        return value


class NumberField(serializers.FloatField):
    """A finite number written with ASCII digits."""

    def to_internal_value(self, data: Any) -> float:
        if not isinstance(data, str) or not re.fullmatch(NUMBER_PATTERN, data):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            self.fail("invalid")
        return float(value)


class InstantField(serializers.DateTimeField):
    """An ISO 8601 instant written with ASCII digits."""

    def to_internal_value(self, value: Any) -> datetime:
        if not isinstance(value, str) or not re.fullmatch(INSTANT_PATTERN, value):
            self.fail("invalid", format="ISO 8601")
        parsed: datetime = super().to_internal_value(value)
        return parsed


def text(help_text: str) -> PatternField:
    """An optional text parameter compared exactly (at most 255 characters, as the columns)."""
    return PatternField(TEXT_PATTERN, required=False, allow_blank=True, max_length=255, help_text=help_text)


class OperationQuery(serializers.Serializer):
    """The operation filters; every one optional, all combined with AND."""

    state = PatternField(
        STATE_PATTERN,
        required=False,
        message=f"state must be among {', '.join(STATES)} (comma-separated)",
        help_text="Only these states: admitted, sealed, expired (comma-separated or repeated).",
    )
    scope = text("Exact scope (whose operation ids these are).")
    method = text("Exact method.")
    key = text("Exact Idempotency-Key.")
    operation_id = PatternField(
        OPERATION_ID_PATTERN,
        required=False,
        message="an operation id is 1..20 decimal digits or 0x and 1..16 hex digits",
        help_text="Operation id, decimal or 0x-hex.",
    )
    created_after = InstantField(required=False, help_text="Created at or after this instant (ISO 8601).")
    created_before = InstantField(required=False, help_text="Created before this instant (ISO 8601).")
    older_than = NumberField(
        required=False, min_value=0, max_value=10**9, help_text="Created more than this many seconds ago."
    )
    lease_expired = serializers.BooleanField(
        required=False, help_text="Admitted with an expired lease (true) / everything else (false)."
    )

    def validate_state(self, value: str) -> list[str]:
        return value.split(",")

    def validate_operation_id(self, value: str) -> int | None:
        """The id as an int; None past 2**64-1 (no operation has it)."""
        number = int(value[2:], 16) if value[:2] in ("0x", "0X") else int(value, 10)
        return number if number <= U64_MAX else None


class SchemaQuery(serializers.Serializer):
    kind = serializers.ChoiceField(
        required=False,
        choices=["struct", "enum", "tuple", "list", "map", "array", "option", "channel", "primitive"],
        help_text="Exact kind.",
    )
    name = text("Names starting with this.")


def parameter_schema(field: serializers.Field) -> dict[str, Any]:
    """The OpenAPI schema of one query parameter, read off the field that validates it."""
    if isinstance(field, PatternField):
        schema: dict[str, Any] = {"type": "string", "pattern": field.pattern}
        if field.max_length is not None:
            schema["maxLength"] = field.max_length
        return schema
    if isinstance(field, serializers.ChoiceField):
        return {"type": "string", "enum": list(field.choices)}
    if isinstance(field, serializers.DateTimeField):
        return {"type": "string", "format": "date-time"}
    if isinstance(field, serializers.BooleanField):
        return {"type": "boolean"}
    if isinstance(field, serializers.FloatField):
        bounds = {"minimum": field.min_value, "maximum": field.max_value}
        return {"type": "number", **{k: v for k, v in bounds.items() if v is not None}}
    raise TypeError(f"no OpenAPI mapping for query parameter field {field!r}")


class QueryFilterBackend(BaseFilterBackend):
    """A filter backend whose parameters are the fields of its :attr:`query` serializer."""

    query: type[serializers.Serializer]

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": name,
                "required": field.required,
                "in": "query",
                "description": str(field.help_text or ""),
                "schema": parameter_schema(field),
            }
            for name, field in self.query().fields.items()
        ]


def _validated(request: Request, query: type[serializers.Serializer]) -> dict[str, Any]:
    """The known parameters, validated (repeated ``state`` values are joined with commas)."""
    params = request.query_params
    data: dict[str, str] = {}
    for name in query().fields:
        if name in REPEATABLE and name in params:
            data[name] = ",".join(params.getlist(name))
        elif (value := single_value(request, name)) is not None:
            data[name] = value
    serializer = query(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class OperationFilter(QueryFilterBackend):
    """``state``, ``scope``, ``method``, ``key``, ``operation_id``, age and ``lease_expired``."""

    query = OperationQuery

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        assert isinstance(queryset, OperationQuerySet)
        data = _validated(request, self.query)
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
        if data.get("lease_expired") is True:
            queryset = queryset.stale(now)
        elif data.get("lease_expired") is False:
            queryset = queryset.not_stale(now)
        return queryset


class SchemaFilter(QueryFilterBackend):
    """``kind`` (exact) and ``name`` (prefix)."""

    query = SchemaQuery

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        data = _validated(request, self.query)
        if "kind" in data:
            queryset = queryset.filter(kind=data["kind"])
        if data.get("name"):
            queryset = queryset.filter(name__startswith=data["name"])
        return queryset
