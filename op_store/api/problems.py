"""RFC 9457 ``application/problem+json`` errors for the inspection API (and only for it).

The handler is attached to the API's views (``get_exception_handler``), so a host's own DRF
``EXCEPTION_HANDLER`` is left alone. Every problem carries ``type``, ``title``, ``status``,
``detail`` and a stable ``code``; validation errors add ``errors`` (field -> messages).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.signals import got_request_exception
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

logger = logging.getLogger("op_store.api")

PROBLEM_CONTENT_TYPE = "application/problem+json"

#: Problem ``type`` URIs are this prefix plus the code, as in ``op_store.lifecycle.problems``.
TYPE_PREFIX = "urn:op-store:problem:"

_TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Permission denied",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    415: "Unsupported media type",
    429: "Too many requests",
    500: "Internal server error",
}


_CODE_TITLES = {
    "not-authenticated": "Authentication required",
    "authentication-failed": "Authentication failed",
    "not-admitted": "Operation not admitted",
}


def problem(status_code: int, code: str, detail: str, *, title: str | None = None, **extra: Any) -> dict[str, Any]:
    """The body of a problem: ``type`` is derived from ``code`` so clients can switch on either.

    Codes are kebab-case like the lifecycle's (``not-found``, ``permission-denied``); DRF's
    snake_case codes are converted.
    """
    code = code.replace("_", "-")
    return {
        "type": TYPE_PREFIX + code,
        "title": title or _CODE_TITLES.get(code) or _TITLES.get(status_code, "Error"),
        "status": status_code,
        "detail": detail,
        "code": code,
        **extra,
    }


class Conflict(exceptions.APIException):
    """409: the request is valid but the operation's state refuses it (e.g. releasing a sealed one)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The operation's state does not allow this."
    default_code = "conflict"


def _flatten(detail: Any) -> dict[str, list[str]]:
    """DRF's nested ``ErrorDetail`` structure as ``{"field": ["message", ...]}``."""
    if isinstance(detail, dict):
        return {str(k): [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in detail.items()}
    if isinstance(detail, list):
        return {"non_field_errors": [str(m) for m in detail]}
    return {"non_field_errors": [str(detail)]}


def _code_of(exc: exceptions.APIException) -> str:
    codes = exc.get_codes()
    if isinstance(codes, str):
        return codes
    return exc.default_code


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler answering problem+json; unexpected errors become a 500 problem
    (and still reach Django's error reporting) unless ``DEBUG`` asks for the technical page."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    headers: dict[str, str] = {}
    if isinstance(exc, exceptions.APIException):
        challenge = getattr(exc, "auth_header", None)
        if challenge:
            headers["WWW-Authenticate"] = str(challenge)
        wait = getattr(exc, "wait", None)
        if wait:
            headers["Retry-After"] = f"{int(wait)}"
        if isinstance(exc, exceptions.ValidationError):
            errors = _flatten(exc.detail)
            first = next(iter(errors.values()), ["invalid input"])[0]
            body = problem(exc.status_code, "invalid", first, title="Invalid request", errors=errors)
        else:
            detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
            body = problem(exc.status_code, _code_of(exc), detail)
        set_rollback()
        return Response(body, status=exc.status_code, headers=headers, content_type=PROBLEM_CONTENT_TYPE)
    if settings.DEBUG:
        return None
    request = context.get("request")
    logger.error("unhandled error in the op_store API", exc_info=exc)
    got_request_exception.send(sender=None, request=getattr(request, "_request", request))
    set_rollback()
    body = problem(500, "internal_error", "The server failed to answer; the error was logged.")
    return Response(body, status=500, content_type=PROBLEM_CONTENT_TYPE)


@csrf_exempt  # it changes nothing: a POST to a wrong path deserves a 404, not a CSRF page
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Catch-all for unknown paths under the API's prefix: a 404 problem, not an HTML page."""
    body = problem(404, "not_found", f"No API endpoint at {request.path}.")
    return JsonResponse(body, status=404, content_type=PROBLEM_CONTENT_TYPE)
