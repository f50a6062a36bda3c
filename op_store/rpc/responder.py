"""The RPC responder: a runner outcome as the reply a vox caller gets.

Every outcome that is an RPC ``Result`` becomes a :class:`~op_store.rpc.calls.Reply` (``Ok``, the
method's ``Err``, ``Err(Indeterminate)``, ``Err(InvalidPayload)``); what is not an RPC outcome (still
running elsewhere, a failure of the server) becomes an ``application/problem+json`` response.
"""

from __future__ import annotations

import logging

from django.http import HttpResponse

from op_store import problems as p
from op_store.engine import outcomes as o
from op_store.engine.runner import RETRY_AFTER
from op_store.lifecycle.reply import reply_schema
from op_store.lifecycle.responder import replay as replay_http

from .calls import Call, MethodFailed, Reply, ReplyTooLarge, error_reply
from .errors import CONFLICT_MESSAGE, VoxError
from .wire import ChainedSchemaSource

log = logging.getLogger("op_store.rpc")

Answer = Reply | HttpResponse


def respond(outcome: o.Outcome, call: Call) -> Answer:
    """The reply (or problem) for ``call`` that ended in ``outcome``."""
    method = call.method
    if isinstance(outcome, (o.Executed, o.Untracked)):
        return result_reply(call, outcome.result)
    if isinstance(outcome, o.Replayed):
        if outcome.sealed.root_type == reply_schema()[0]:
            return replay_http(outcome)  # a refusal recorded in the reply's place (a reply too large)
        source = ChainedSchemaSource([method.registry, outcome.store.schema_source()])
        return Reply(outcome.sealed.response, outcome.sealed.root_type, method.method_id, source, replayed=True)
    if isinstance(outcome, (o.Indeterminate, o.Expired)):
        return error_reply(method, VoxError.Indeterminate())
    if isinstance(outcome, o.Conflict):
        return error_reply(method, VoxError.InvalidPayload(CONFLICT_MESSAGE))
    if isinstance(outcome, o.InFlight):
        return p.problem_response(
            p.IN_FLIGHT,
            "A call with this operation id is still running. Retry later with the same operation id to get its result.",
            retry_after=RETRY_AFTER,
        )
    if isinstance(outcome, o.MissingKey):
        return p.problem_response(
            p.MISSING_KEY,
            "Calls of this method need a Vox-Operation-Id header (a u64 the client picks per logical call "
            "and repeats on every retry).",
        )
    if isinstance(outcome, o.Rejected):
        return outcome.error.response()
    if isinstance(outcome, o.OwnershipLost):
        return p.problem_response(
            p.OWNERSHIP_LOST,
            "This call's lease on the operation ran out and another call took it over; this call's effects "
            "were rolled back. Retry with the same operation id to get the outcome.",
            retry_after=RETRY_AFTER,
        )
    if outcome.outcome_unknown:
        detail = (
            "Committing the call failed, so it may or may not have taken effect. Retrying with the same "
            "operation id returns its result if it committed."
        )
    else:
        detail = "The call's effects were rolled back; retrying with the same operation id runs it again."
    return p.problem_response(p.SEAL_FAILED, f"The operation could not be recorded. {detail}", retry_after=RETRY_AFTER)


def result_reply(call: Call, result: bytes | MethodFailed | ReplyTooLarge) -> Answer:
    """What the method's run produced: its encoded ``Result``, or why there is none to give."""
    if isinstance(result, MethodFailed):
        log.error("op_store: %s failed", call.describe(), exc_info=result.__cause__ or result)
        return p.problem_response(
            p.METHOD_FAILED,
            "The method raised an unexpected error. An atomic method's writes were rolled back and nothing was "
            "recorded for the operation id, so a retry with the same operation id runs the method again.",
        )
    if isinstance(result, ReplyTooLarge):
        log.error(
            "op_store: the %d-byte reply of %s exceeds MAX_RESPONSE_BYTES (%d); %s",
            result.size,
            call.describe(),
            result.limit,
            "its effects stand, so the refusal is sealed in its place" if result.recorded else "rolled back",
        )
        return result.response()
    method = call.method
    return Reply(result, method.reply_root, method.method_id, method.registry)
