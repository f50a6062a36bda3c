"""What the inspection API answers in: JSON for programs, DRF's browsable page for a browser.

DRF's content negotiation gives the first renderer to a client that sends no ``Accept`` or
``*/*``, so JSON stays the default; the HTML page goes only to a client that asks for
``text/html``, as browsers do. How to use it: docs/api.md.
"""

from __future__ import annotations

from typing import Any

from rest_framework import renderers

from .problems import PROBLEM_CONTENT_TYPE


class OpStoreBrowsableAPIRenderer(renderers.BrowsableAPIRenderer):
    """DRF's browsable page, also for errors: a problem is shown on the page, labelled as HTML.

    The API's errors are responses whose content type is fixed to ``application/problem+json``;
    rendered as a page they are HTML, and a browser must be told so. The page's header listing
    still shows the content type a program would get.
    """

    def get_context(self, data: Any, accepted_media_type: str, renderer_context: dict[str, Any]) -> dict[str, Any]:
        context: dict[str, Any] = super().get_context(data, accepted_media_type, renderer_context)
        if renderer_context["response"].content_type == PROBLEM_CONTENT_TYPE:
            context["response_headers"]["Content-Type"] = PROBLEM_CONTENT_TYPE
        return context

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: dict[str, Any] | None = None
    ) -> Any:
        page = super().render(data, accepted_media_type, renderer_context)
        response = (renderer_context or {}).get("response")
        if response is not None:
            response["Content-Type"] = f"{self.media_type}; charset={self.charset}"
        return page


#: Every API view's renderers: JSON first (the default), the browsable page for browsers.
API_RENDERERS = (renderers.JSONRenderer, OpStoreBrowsableAPIRenderer)
