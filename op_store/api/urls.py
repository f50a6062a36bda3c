"""Mount with ``path("api/op-store/", include("op_store.api.urls"))`` (namespace ``op_store_api``).

What each route serves, and the browsable and documentation pages: docs/api.md.
"""

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
    from .docs import RedocView, SwaggerUIView
    from .schema_view import OpenAPISchemaView

    urlpatterns += [
        path("schema/", OpenAPISchemaView.as_view(), name="schema"),
        # The document in a browser, from drf-spectacular-sidecar's static files (docs/api.md).
        path("docs/", SwaggerUIView.as_view(), name="docs"),
        path("redoc/", RedocView.as_view(), name="redoc"),
    ]

# Anything else under the prefix (ending in a slash, so APPEND_SLASH still redirects) is a 404 problem.
urlpatterns.append(re_path(r"^(?:[\s\S]*/)?$", not_found, name="not-found"))
