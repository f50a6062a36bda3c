"""``schema/``: the OpenAPI 3 document of this API alone (needs drf-spectacular).

The generator keeps only op_store's endpoints, with their full paths under whatever prefix the
host mounted them at, so the host's other DRF views (and its spectacular settings) are not mixed in.
A browser asking for HTML gets the document on DRF's browsable page instead of a file to save.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

import op_store

from .converters import OperationPkConverter
from .permissions import configured_permissions, first_challenge
from .problems import exception_handler
from .renderers import OpStoreBrowsableAPIRenderer
from .views import OpStoreView

#: The document's title, also the title of its Swagger UI and Redoc pages.
TITLE = "op_store inspection API"


class OpStoreSchemaGenerator(SchemaGenerator):
    """Only the endpoints served by :class:`~op_store.api.views.OpStoreView` subclasses."""

    def _initialise_endpoints(self) -> None:
        super()._initialise_endpoints()
        self.endpoints = [
            endpoint
            for endpoint in self.endpoints or []
            if isinstance(getattr(endpoint[3], "cls", None), type) and issubclass(endpoint[3].cls, OpStoreView)
        ]


class DocumentAccess:
    """Who may see the API's document and its docs pages, and how a refusal is answered: any of
    op_store's permissions opens them (op_store.permissions), refusals are problem+json, and a
    missing login gets the authenticator's challenge (401)."""

    required_permissions = {"GET": None}

    def get_permissions(self) -> list[BasePermission]:
        return configured_permissions()

    def get_authenticate_header(self, request: Request) -> str | None:
        return first_challenge(request)

    def get_exception_handler(self) -> Any:
        return exception_handler


class OpenAPISchemaView(DocumentAccess, SpectacularAPIView):
    """The OpenAPI document (YAML by default; JSON with ``?format=json`` or ``Accept``)."""

    generator_class = OpStoreSchemaGenerator
    # After the document's own renderers, so only a client asking for text/html gets the page.
    renderer_classes = [*SpectacularAPIView.renderer_classes, OpStoreBrowsableAPIRenderer]
    custom_settings = {
        "TITLE": TITLE,
        "DESCRIPTION": "Browse operations and schemas of op_store's exactly-once store (read, release, purge).",
        "VERSION": op_store.__version__,
        "COMPONENT_SPLIT_REQUEST": True,
        # An operation's primary key: an integer, within the BIGINT the URL converter accepts.
        "PATH_CONVERTER_OVERRIDES": {
            "operation_pk": {"type": "integer", "minimum": 0, "maximum": OperationPkConverter.maximum}
        },
    }

    def handle_exception(self, exc: Exception) -> Response:
        # Content negotiation may have picked YAML for the document; a problem is JSON (or, for a
        # browser, shown on the browsable page).
        request = getattr(self, "request", None)
        page = isinstance(getattr(request, "accepted_renderer", None), OpStoreBrowsableAPIRenderer)
        if request is not None and not page:
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)
