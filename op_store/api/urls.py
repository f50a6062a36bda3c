"""Mount with ``path("api/op-store/", include("op_store.api.urls"))`` (namespace ``op_store_api``)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path, re_path, register_converter

from . import views
from .converters import OperationPkConverter, SchemaHashConverter
from .openapi import SPECTACULAR
from .problems import not_found

register_converter(SchemaHashConverter, "schema_hash")
register_converter(OperationPkConverter, "operation_pk")

app_name = "op_store_api"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.APIRoot.as_view(), name="root"),
    path("operations/", views.OperationList.as_view(), name="operation-list"),
    path("operations/<operation_pk:pk>/", views.OperationDetail.as_view(), name="operation-detail"),
    path("schemas/", views.SchemaList.as_view(), name="schema-list"),
    path("schemas/<schema_hash:schema_hash>/", views.SchemaDetail.as_view(), name="schema-detail"),
    path("stats/", views.StatsView.as_view(), name="stats"),
    path("purge/", views.PurgeView.as_view(), name="purge"),
]

if SPECTACULAR:
    from .schema_view import OpenAPISchemaView

    urlpatterns.append(path("schema/", OpenAPISchemaView.as_view(), name="schema"))

# Anything else under the prefix (ending in a slash, so APPEND_SLASH still redirects) is a 404 problem.
urlpatterns.append(re_path(r"^(?:[\s\S]*/)?$", not_found, name="not-found"))
