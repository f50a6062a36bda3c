"""RFC 9457 problem details: every problem type op_store answers with, and the one builder of their bodies.

Each problem has a stable ``code`` and a stable ``type`` URI, ``urn:op-store:problem:<code>``.
A URN rather than an ``https://`` URL on purpose: RFC 9457 lets ``type`` be any URI, a URN is
never mistaken for a page to fetch, and it does not depend on a domain this project may not keep.
Clients should branch on ``type`` (or ``code``), never on ``title`` or ``detail``.

:func:`problem_body` builds the JSON object of any problem (HTTP views, the RPC view, and a caller
with its own codes, such as an API exception handler); :func:`problem_response` wraps it in a
Django response.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.http import HttpResponse

from op_store import headers

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:op-store:problem:"


@dataclass(frozen=True, slots=True)
class ProblemType:
    """One kind of problem: its code (the last part of the ``type`` URI), HTTP status and title."""

    code: str
    status: int
    title: str

    @property
    def type(self) -> str:
        return TYPE_PREFIX + self.code


# --- exactly-once delivery (HTTP views and RPC calls alike) -----------------------------------

MISSING_KEY = ProblemType("missing-key", 400, "Idempotency key required")
MALFORMED_KEY = ProblemType("malformed-key", 400, "Malformed idempotency key")
ANONYMOUS_KEY = ProblemType("anonymous-key", 403, "Idempotency key needs an identified client")
REQUEST_TOO_LARGE = ProblemType("request-too-large", 413, "Request body too large to fingerprint")
IN_FLIGHT = ProblemType("in-flight", 409, "Operation in progress")
INDETERMINATE = ProblemType("indeterminate", 409, "Operation outcome unknown")
OWNERSHIP_LOST = ProblemType("ownership-lost", 409, "Operation taken over by another request")
FINGERPRINT_MISMATCH = ProblemType("fingerprint-mismatch", 422, "Idempotency key reused for a different request")
EXPIRED = ProblemType("expired", 410, "Operation result expired")
RESPONSE_TOO_LARGE = ProblemType("response-too-large", 500, "Response too large to store")
SEAL_FAILED = ProblemType("seal-failed", 503, "Operation could not be recorded")
UNREADABLE_REPLY = ProblemType("unreadable-reply", 500, "Stored reply cannot be replayed")
DATABASE_BUSY = ProblemType("database-busy", 503, "Database busy")

LIFECYCLE: tuple[ProblemType, ...] = (
    MISSING_KEY,
    MALFORMED_KEY,
    ANONYMOUS_KEY,
    REQUEST_TOO_LARGE,
    IN_FLIGHT,
    INDETERMINATE,
    OWNERSHIP_LOST,
    FINGERPRINT_MISMATCH,
    EXPIRED,
    RESPONSE_TOO_LARGE,
    SEAL_FAILED,
    UNREADABLE_REPLY,
    DATABASE_BUSY,
)

# --- the RPC view's transport problems (every RPC outcome that is a Result travels as 200) ------

METHOD_NOT_ALLOWED = ProblemType("method-not-allowed", 405, "HTTP method not allowed")
UNSUPPORTED_MEDIA_TYPE = ProblemType("unsupported-media-type", 415, "Unsupported content type")
METHOD_FAILED = ProblemType("method-failed", 500, "RPC method failed")
SCHEMA_NOT_FOUND = ProblemType("schema-not-found", 404, "Schema not found")

RPC: tuple[ProblemType, ...] = (METHOD_NOT_ALLOWED, UNSUPPORTED_MEDIA_TYPE, METHOD_FAILED, SCHEMA_NOT_FOUND)


def problem_body(status: int, code: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    """The JSON object of a problem; ``type`` is derived from ``code`` so clients can switch on either."""
    return {"type": TYPE_PREFIX + code, "code": code, "title": title, "status": status, "detail": detail, **extra}


def problem_response(
    problem: ProblemType, detail: str, *, retry_after: int | None = None, **extra: Any
) -> HttpResponse:
    """An ``application/problem+json`` response; ``extra`` members are added to the body."""
    body = problem_body(problem.status, problem.code, problem.title, detail, **extra)
    response = HttpResponse(
        json.dumps(body, ensure_ascii=False).encode(), status=problem.status, content_type=PROBLEM_CONTENT_TYPE
    )
    if retry_after is not None:
        response[headers.RETRY_AFTER] = str(retry_after)
    return response


def response_too_large(size: int, limit: int, *, recorded: bool) -> HttpResponse:
    """The refusal of a reply over ``MAX_RESPONSE_BYTES`` (deterministic: a replay repeats it byte for byte).

    ``recorded``: the work ran outside a transaction, so its effects stand and this refusal is sealed
    for the key in place of the reply; otherwise its writes were rolled back and the key released.
    See ``docs/problems.md#response-too-large``.
    """
    if recorded:
        outcome = (
            "The operation ran outside a transaction and its effects stand, so it will not run again for this "
            "key or operation id: this answer is recorded, and a retry gets it again."
        )
    else:
        outcome = (
            "Its effects were rolled back and nothing was recorded, so a retry with the same key or operation "
            "id runs it again (and is likely to be refused the same way)."
        )
    return problem_response(
        RESPONSE_TOO_LARGE,
        f"The reply ({size} bytes) is larger than this server stores for replays (MAX_RESPONSE_BYTES = "
        f"{limit}), so it was not delivered. {outcome}",
        response_bytes=size,
        max_response_bytes=limit,
    )


class ProblemError(Exception):
    """Raised by a scope resolver or a fingerprint to answer with a problem instead of running the view."""

    def __init__(self, problem: ProblemType, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.problem = problem
        self.detail = detail
        self.extra = extra

    def response(self) -> HttpResponse:
        return problem_response(self.problem, self.detail, **self.extra)
