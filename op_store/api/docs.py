"""``docs/`` (Swagger UI) and ``redoc/``: the OpenAPI document in a browser, served offline.

drf-spectacular's pages load their scripts from ``SPECTACULAR_SETTINGS`` (a CDN by default, or the
sidecar's static files with ``"SIDECAR"``). A reusable app should not change the project's
settings, so these subclasses always take drf-spectacular-sidecar's files, whatever the project
chose for its own pages, and render op_store's own templates (drf-spectacular's Redoc page links
Google's web fonts, and its templates are only found with ``drf_spectacular`` in INSTALLED_APPS).
The inspection API's pages then work without internet access and send nobody's browser to a third
party. ``drf_spectacular_sidecar`` must be in INSTALLED_APPS for its static files to be found
(system check ``op_store.W050``; docs/api.md).
"""

from __future__ import annotations

from typing import Any

from django.http.response import HttpResponseBase
from django.templatetags.static import static
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .schema_view import TITLE, DocumentAccess

#: The Django app whose static files the pages load (its ``static/<app>/`` folder).
SIDECAR_APP = "drf_spectacular_sidecar"


def sidecar_static(path: str) -> str:
    """The static URL of one of the sidecar's files (Swagger UI's or Redoc's distribution)."""
    return static(f"{SIDECAR_APP}/{path}")


#: Enforced by the browser: nothing from another host, whatever a bundle asks for (Redoc's sidebar
#: shows Redocly's logo from their CDN: blocked, the link text stays). Inline scripts and styles
#: stay allowed: the pages' start-up script is inline, and both UIs style elements inline.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
    )
)


class DocsPage(DocumentAccess, APIView):
    """What both pages share: the document they show, the API's permissions, problem+json refusals,
    and a content security policy that keeps the browser on this host."""

    #: Read by system check op_store.W050: the app whose static files this page needs.
    static_files_app = SIDECAR_APP
    url_name = "op_store_api:schema"

    def handle_exception(self, exc: Exception) -> Response:
        # The page's template renderer cannot show a problem; JSON can.
        request = getattr(self, "request", None)
        if request is not None:
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)

    def finalize_response(self, request: Request, response: HttpResponseBase, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return response


class SwaggerUIView(DocsPage, SpectacularSwaggerView):
    """Swagger UI over ``schema/`` ("Try it out" sends requests with the browser's session)."""

    template_name = "op_store/api/swagger_ui.html"
    title = TITLE

    @staticmethod
    def _swagger_ui_resource(filename: str) -> str:
        return sidecar_static(f"swagger-ui-dist/{filename}")

    @staticmethod
    def _swagger_ui_favicon() -> str:
        return sidecar_static("swagger-ui-dist/favicon-32x32.png")


class RedocView(DocsPage, SpectacularRedocView):
    """Redoc over ``schema/``."""

    template_name = "op_store/api/redoc.html"
    title = TITLE

    @staticmethod
    def _redoc_standalone() -> str:
        return sidecar_static("redoc/bundles/redoc.standalone.js")
