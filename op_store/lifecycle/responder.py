"""The HTTP responder: a runner outcome as the response a view's client gets."""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest

from op_store import problems as p
from op_store.engine import outcomes as o
from op_store.engine.runner import RETRY_AFTER

from .reply import decode_reply, replay_response, reply_schema

log = logging.getLogger("op_store.lifecycle")


def respond(outcome: o.Outcome, request: HttpRequest) -> Any:
    """The view's own response when it ran, else a replay or an ``application/problem+json`` answer."""
    if isinstance(outcome, (o.Executed, o.Untracked)):
        return outcome.result
    if isinstance(outcome, o.Replayed):
        return replay(outcome)
    if isinstance(outcome, o.InFlight):
        return p.problem_response(
            p.IN_FLIGHT,
            "A request with this idempotency key is still being processed. Retry later with the same key to "
            "get its result.",
            retry_after=RETRY_AFTER,
        )
    if isinstance(outcome, o.Indeterminate):
        return p.problem_response(
            p.INDETERMINATE,
            "A request with this idempotency key started earlier but never finished, and it may or may not "
            "have taken effect. It will not be run again automatically; check the outcome before retrying "
            "with a new key.",
        )
    if isinstance(outcome, o.Conflict):
        return p.problem_response(
            p.FINGERPRINT_MISMATCH,
            "This idempotency key was already used for a different request (method, path, query or "
            "body differ). Use a new key for a new request.",
        )
    if isinstance(outcome, o.Expired):
        return p.problem_response(
            p.EXPIRED,
            "This operation completed, but its stored result has been purged. It will not run again; "
            "use a new key for a new request.",
        )
    if isinstance(outcome, o.MissingKey):
        return p.problem_response(
            p.MISSING_KEY,
            f"{request.method} requests to this endpoint need an Idempotency-Key header (1 to 255 "
            "visible ASCII characters, the same on every retry).",
        )
    if isinstance(outcome, o.Rejected):
        return outcome.error.response()
    if isinstance(outcome, o.OwnershipLost):
        return p.problem_response(
            p.OWNERSHIP_LOST,
            "This request's lease on the idempotency key ran out and another request took the operation "
            "over; this request's effects were rolled back. Retry with the same key to get the outcome.",
            retry_after=RETRY_AFTER,
        )
    if outcome.outcome_unknown:
        detail = (
            "Committing the request failed, so it may or may not have taken effect. Retrying with the same "
            "key returns its result if it committed."
        )
    else:
        detail = "The request's effects were rolled back; retrying with the same key runs it again."
    return p.problem_response(p.SEAL_FAILED, f"The operation could not be recorded. {detail}", retry_after=RETRY_AFTER)


def replay(outcome: o.Replayed) -> Any:
    """The sealed reply rebuilt, with ``Idempotent-Replayed: true``; a problem if it is not an HTTP reply."""
    sealed = outcome.sealed
    root, _ = reply_schema()
    if sealed.root_type != root:
        return p.problem_response(
            p.FINGERPRINT_MISMATCH,
            "This operation id holds a reply of another kind (not an HTTP reply); use a new key.",
        )
    try:
        reply = decode_reply(sealed.response)
    except Exception:
        log.exception(
            "op_store: the sealed reply of operation %#018x (scope %r) cannot be decoded",
            outcome.operation_id,
            outcome.scope,
        )
        return p.problem_response(p.UNREADABLE_REPLY, "The stored reply of this operation cannot be decoded.")
    return replay_response(reply)
