"""drf-spectacular, when installed: per-view ``AutoSchema``, ``extend_schema``, and the schema view.

Everything degrades to no-ops without drf-spectacular, so the API works without the extra; the
``schema/`` endpoint and its ``docs/`` (Swagger UI) and ``redoc/`` pages are only routed when it is
installed (see :mod:`op_store.api.urls`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

try:
    from drf_spectacular.openapi import AutoSchema as _AutoSchema
    from drf_spectacular.utils import OpenApiParameter as _OpenApiParameter
    from drf_spectacular.utils import OpenApiResponse as _OpenApiResponse
    from drf_spectacular.utils import extend_schema as _extend_schema
    from drf_spectacular.utils import extend_schema_field as _extend_schema_field

    SPECTACULAR = True
except ImportError:  # pragma: no cover - exercised by hosts without the extra
    SPECTACULAR = False


#: The API root's links to the document and its pages (keys of the root, route names of
#: :mod:`op_store.api.urls`): only routed with drf-spectacular.
DOCUMENT_LINKS: dict[str, str] = {"schema": "schema", "docs": "docs", "redoc": "redoc"} if SPECTACULAR else {}


def auto_schema() -> Any:
    """The per-view schema inspector: spectacular's when installed, else DRF's default."""
    if SPECTACULAR:
        return _AutoSchema()
    from rest_framework.schemas import DefaultSchema

    return DefaultSchema()


def extend_schema(**kwargs: Any) -> Callable[[F], F]:
    """``drf_spectacular.utils.extend_schema`` or a no-op."""
    if SPECTACULAR:
        return _extend_schema(**kwargs)
    return lambda f: f


def extend_schema_field(field: Any) -> Callable[[F], F]:
    """``drf_spectacular.utils.extend_schema_field`` or a no-op."""
    if SPECTACULAR:
        return _extend_schema_field(field)
    return lambda f: f


def response(serializer: Any, description: str = "") -> Any:
    """An ``OpenApiResponse`` (or the bare serializer without spectacular)."""
    if SPECTACULAR:
        return _OpenApiResponse(response=serializer, description=description)
    return serializer


def query_parameter(name: str, type_: Any, description: str, **kwargs: Any) -> Any:
    """An ``OpenApiParameter`` in the query string (None without spectacular)."""
    if SPECTACULAR:
        return _OpenApiParameter(name, type_, _OpenApiParameter.QUERY, description=description, **kwargs)
    return None
