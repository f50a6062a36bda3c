"""Exactly-once problems inside a DRF view: through the project's ``EXCEPTION_HANDLER``, problem+json by default.

Imported lazily by the decorator, only for views that DRF dispatches; public as
``op_store.drf.ExactlyOnceProblem``.

When ``@exactly_once`` sits inside ``APIView.dispatch`` (on a handler method, a viewset action, or
through :class:`~op_store.drf.mixins.ExactlyOnceMixin`) and answers with a problem instead of
running the view (409 ``in-flight``, 422 ``fingerprint-mismatch``...), the problem is raised as an
:class:`ExactlyOnceProblem` to the view's exception handler, as any ``APIException`` would be:

- with DRF's default handler, the answer is op_store's ``application/problem+json`` response,
  byte for byte the one a plain Django view gets (DRF's default would flatten it to ``{"detail": ...}``);
- a custom ``EXCEPTION_HANDLER`` receives the exception and its response is rendered by the view's
  renderers; when it returns None, the problem+json response is the answer (not DRF's 500).

See ``docs/drf.md``.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponse
from django.http.response import HttpResponseBase
from rest_framework import views
from rest_framework.exceptions import APIException

from op_store import headers
from op_store.problems import PROBLEM_CONTENT_TYPE


class ExactlyOnceProblem(APIException):
    """An exactly-once problem on its way through DRF's exception handling.

    ``status_code``, ``detail`` (with the problem's ``code``) and ``wait`` (``Retry-After``
    seconds, when the client should retry later) are what DRF's own handler reads;
    ``problem`` is the whole RFC 9457 body (``type``, ``code``, ``title``, ``status``, ``detail``
    and any extra members) and ``problem_response`` the ``application/problem+json`` response
    op_store answers when no handler replaces it.
    """

    def __init__(self, problem: dict[str, Any], problem_response: HttpResponse) -> None:
        super().__init__(detail=str(problem.get("detail", "")), code=str(problem.get("code", "error")))
        self.status_code = int(problem.get("status", problem_response.status_code))
        self.problem = problem
        self.problem_response = problem_response
        retry_after = problem_response.get(headers.RETRY_AFTER)
        self.wait = int(retry_after) if retry_after and retry_after.isdigit() else None


def is_problem_response(response: object) -> bool:
    """Whether an answer op_store gave instead of the view's own response is a problem (not a replay)."""
    return (
        isinstance(response, HttpResponse)
        and not response.has_header(headers.REPLAYED)
        and response.get("Content-Type", "").split(";")[0].strip() == PROBLEM_CONTENT_TYPE
    )


def handle_problem(view: views.APIView, response: HttpResponse) -> HttpResponseBase:
    """The view's answer to op_store's problem ``response``: through its exception handler (see the module doc)."""
    handler = view.get_exception_handler()
    if handler is views.exception_handler:
        return response
    exc = ExactlyOnceProblem(json.loads(response.content), response)
    handled = handler(exc, view.get_exception_handler_context())
    if handled is None:
        return response
    handled.exception = True
    return handled
