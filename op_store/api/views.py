"""The inspection API's views. Every one: configured permissions, JSON (or DRF's browsable page for a
browser, docs/api.md), problem+json errors (the codes are in docs/problems.md#inspection-api), and a
query count that does not grow with the page size."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.urls import reverse
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from op_store import _compat
from op_store.models import Operation, Schema
from op_store.permissions import PURGE_OPERATIONS, RELEASE_OPERATION, VIEW_OPERATION, VIEW_SCHEMA
from op_store.schema_json import schema_document
from op_store.store import DatabaseSchemaSource, purge, stats
from op_store.store.orm import store_alias
from op_store.vox.ids import parse_hash

from . import serializers as s
from .filters import OperationFilter, SchemaFilter
from .openapi import DOCUMENT_LINKS, auto_schema, extend_schema, response
from .pagination import OperationCursorPagination, SchemaCursorPagination
from .parsers import StrictJSONParser
from .permissions import configured_permissions, first_challenge
from .problems import PROBLEM_CONTENT_TYPE, Conflict, exception_handler
from .renderers import API_RENDERERS

#: Columns a list never loads.
HEAVY_FIELDS = ("response", "fingerprint", "root_type")


def _problems(*codes: int) -> dict[Any, Any]:
    return {(code, PROBLEM_CONTENT_TYPE): response(s.ProblemSerializer, "Problem details") for code in codes}


class OpStoreView(APIView):
    """Base of every op_store API view: settings-driven permissions and op_store's error format."""

    renderer_classes = API_RENDERERS
    parser_classes = [StrictJSONParser]
    schema = auto_schema()
    #: Method -> the permissions :class:`~.permissions.InspectionPermissions` asks for (None: any
    #: op_store permission); who needs what is in docs/settings.md#api_permission_classes.
    required_permissions: dict[str, tuple[str, ...] | None] = {}

    def get_permissions(self) -> list[BasePermission]:
        return configured_permissions()

    def get_authenticate_header(self, request: Request) -> str | None:
        return first_challenge(request)

    def get_exception_handler(self) -> Any:
        return exception_handler

    def store_alias(self) -> str:
        return store_alias()


@extend_schema(methods=["GET"], responses={200: s.RootSerializer, **_problems(401, 403)})
class APIRoot(OpStoreView):
    """Where the endpoints are (so a client needs only the mount point)."""

    links = {"operations": "operation-list", "schemas": "schema-list", "stats": "stats", "purge": "purge"}
    required_permissions = {"GET": None}

    def get(self, request: Request) -> Response:
        names = {**self.links, **DOCUMENT_LINKS}
        links = {key: request.build_absolute_uri(reverse(f"op_store_api:{name}")) for key, name in names.items()}
        return Response(s.RootSerializer(links).data)


@extend_schema(
    methods=["GET"],
    responses={200: s.OperationSerializer(many=True), **_problems(400, 401, 403, 404)},
)
class OperationList(OpStoreView, generics.ListAPIView):
    """Operations, newest first, filtered; cursor-paginated (``next``/``previous`` links, no counts)."""

    serializer_class = s.OperationSerializer
    pagination_class = OperationCursorPagination
    required_permissions = {"GET": (VIEW_OPERATION,)}
    filter_backends = [OperationFilter]

    def get_queryset(self) -> QuerySet[Any]:
        return Operation.objects.using(self.store_alias()).defer(*HEAVY_FIELDS)


@extend_schema(methods=["GET"], responses={200: s.OperationDetailSerializer, **_problems(401, 403, 404)})
@extend_schema(
    methods=["DELETE"],
    description="Release an admitted operation (a retry then runs it again). A sealed or expired one is "
    "refused with 409: its reply may already have reached the client.",
    responses={204: None, **_problems(401, 403, 404, 409)},
)
class OperationDetail(OpStoreView, generics.RetrieveDestroyAPIView):
    """One operation with its decoded reply; ``DELETE`` releases it if it is only admitted."""

    serializer_class = s.OperationDetailSerializer
    required_permissions = {"GET": (VIEW_OPERATION,), "DELETE": (RELEASE_OPERATION,)}

    def get_queryset(self) -> QuerySet[Any]:
        return Operation.objects.using(self.store_alias())

    def get_object(self) -> Operation:
        if not _compat.fits_bigint(self.kwargs["pk"]):
            raise NotFound()  # what Django 5.0+ answers by itself (the lookup finds no row)
        return super().get_object()

    def delete(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        operation = self.get_object()
        result = Operation.objects.using(operation._state.db).release_admitted([operation.pk])
        if result.not_admitted and operation.state != Operation.State.ADMITTED:
            raise Conflict(
                f"operation {operation.operation_id} is {operation.state}: only admitted operations can be "
                "released, a sealed reply may already have reached its client",
                code="not-admitted",
            )
        if result.not_admitted or result.busy:
            raise Conflict("the operation was sealed while being released", code="not-admitted")
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(
    methods=["GET"],
    responses={200: s.SchemaSerializer(many=True), **_problems(400, 401, 403, 404)},
)
class SchemaList(OpStoreView, generics.ListAPIView):
    """Stored schemas by hash; cursor-paginated."""

    serializer_class = s.SchemaSerializer
    pagination_class = SchemaCursorPagination
    required_permissions = {"GET": (VIEW_SCHEMA,)}
    filter_backends = [SchemaFilter]

    def get_queryset(self) -> QuerySet[Any]:
        return Schema.objects.using(self.store_alias())


@extend_schema(methods=["GET"], responses={200: s.SchemaDefinitionSerializer, **_problems(401, 403, 404)})
class SchemaDetail(OpStoreView):
    """One schema in the documented JSON form: ``Schema.from_json(body)`` rebuilds it."""

    required_permissions = {"GET": (VIEW_SCHEMA,)}

    def get(self, request: Request, schema_hash: str) -> Response:
        row = get_object_or_404(Schema.objects.using(self.store_alias()), pk=parse_hash(schema_hash))
        return Response(schema_document(row.to_vox(), DatabaseSchemaSource(row._state.db)))


@extend_schema(methods=["GET"], responses={200: s.StatsSerializer, **_problems(401, 403)})
class StatsView(OpStoreView):
    """Counts per state, stale and due rows, reply bytes, schemas. Counts whole tables: not for polling."""

    required_permissions = {"GET": (VIEW_OPERATION,)}

    def get(self, request: Request) -> Response:
        return Response(s.StatsSerializer(stats(using=self.store_alias())).data)


@extend_schema(
    methods=["POST"],
    request=s.PurgeRequestSerializer,
    responses={200: s.PurgeResultSerializer, **_problems(400, 401, 403, 415)},
)
class PurgeView(OpStoreView):
    """Run the store's purge now (batched, short transactions); ``{"dry_run": true}`` only counts."""

    required_permissions = {"POST": (PURGE_OPERATIONS,)}

    def post(self, request: Request) -> Response:
        if not isinstance(request.data, dict):
            raise ValidationError({"non_field_errors": ["the body must be a JSON object"]})
        body = s.PurgeRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = purge(using=self.store_alias(), dry_run=body.validated_data["dry_run"])
        return Response(s.PurgeResultSerializer(result).data)
