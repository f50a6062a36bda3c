"""The HTTP side of an :class:`~op_store.rpc.site.RpcSite`: the call view, the schema endpoint, the index.

The call view turns an HTTP request into a :class:`~op_store.rpc.calls.Call` (transport checks,
operation id, arguments), passes it to the runner (:mod:`op_store.engine.runner`) as
:class:`~op_store.rpc.calls.CallWork`, and the outcome, through :mod:`.responder`, into an HTTP
reply. See :mod:`.wire` for the request and reply formats.

CSRF: the call view is exempt, because it only accepts ``application/x-postcard`` and
``application/json`` bodies, which a browser cannot send cross-site without a CORS preflight that
this view never approves; a request without a Content-Type is refused for the same reason.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase

from op_store import problems as p
from op_store.engine import runner
from op_store.engine.keys import MalformedKeyError, OperationKey, key_from_request
from op_store.engine.policy import Policy
from op_store.engine.transactions import atomic_request_aliases
from op_store.problems import problem_response
from op_store.schema_json import schema_document
from op_store.vox import DecodeError, decode_ref, format_hash, parse_hash

from .calls import Call, CallWork, Reply, error_reply
from .errors import VoxError
from .jsonvalues import args_from_json
from .responder import Answer, respond
from .wire import (
    JSON,
    OPERATION_ID_HEADER,
    POSTCARD,
    REPLAYED_HEADER,
    SCHEMAS_SEGMENT,
    media_type,
    root_headers,
    wants_json,
)

if TYPE_CHECKING:
    from .site import RpcSite

log = logging.getLogger("op_store.rpc")


def not_allowed(allowed: tuple[str, ...]) -> HttpResponse:
    response = problem_response(
        p.METHOD_NOT_ALLOWED, f"This endpoint answers {' and '.join(allowed)} only.", allowed=list(allowed)
    )
    response["Allow"] = ", ".join(allowed)
    return response


def render(outcome: Answer, as_json: bool) -> HttpResponseBase:
    """An outcome as HTTP: problems as they are, replies as postcard (or JSON) with their type headers."""
    if not isinstance(outcome, Reply):
        return outcome
    if as_json:
        try:
            value = decode_ref(outcome.body, outcome.root, outcome.source)
        except DecodeError:
            log.exception("op_store: an RPC reply cannot be decoded by its schemas")
            return problem_response(p.UNREADABLE_REPLY, "The reply cannot be decoded to JSON by its schemas.")
        response = HttpResponse(json.dumps(value, ensure_ascii=False).encode(), content_type=JSON)
    else:
        response = HttpResponse(outcome.body, content_type=POSTCARD)
    for name, value in root_headers(outcome.root, outcome.method_id).items():
        response[name] = value
    if outcome.replayed:
        response[REPLAYED_HEADER] = "true"
    response["Cache-Control"] = "no-store"
    return response


def call_view(site: RpcSite, request: HttpRequest, service: str, method: str) -> HttpResponseBase:
    """``POST <prefix>/<service>/<method>``."""
    if request.method != "POST":
        return not_allowed(("POST",))
    try:
        key = key_from_request(request)
    except MalformedKeyError as exc:
        return problem_response(p.MALFORMED_KEY, str(exc))
    content_type = media_type(request.META.get("CONTENT_TYPE", ""))
    if content_type not in (POSTCARD, JSON):
        return problem_response(
            p.UNSUPPORTED_MEDIA_TYPE,
            f"Send the arguments as {POSTCARD} (the postcard encoding of the argument tuple) or as {JSON} "
            f"(an object of named arguments, or an array); got {content_type or 'no Content-Type'}.",
            accepted=[POSTCARD, JSON],
        )
    try:
        body = request.body
    except RequestDataTooBig:
        return problem_response(
            p.REQUEST_TOO_LARGE, "The request body is larger than this server accepts (DATA_UPLOAD_MAX_MEMORY_SIZE)."
        )
    as_json = wants_json(request.META.get("HTTP_ACCEPT", ""))
    spec = site.lookup(service, method)
    if spec is None:
        return render(site.unknown_method_reply(), as_json)
    try:
        if content_type == POSTCARD:
            args = spec.args_codec.decode(body)
            canonical = body
        else:
            args = args_from_json(json.loads(body) if body.strip() else None, spec.params)
            canonical = spec.args_codec.encode(args)
    except (ValueError, RecursionError) as exc:  # DecodeError, JSON errors, JsonValueError, EncodeError
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        return render(error_reply(spec, VoxError.InvalidPayload(f"invalid arguments: {reason}")), as_json)
    call = Call(request, spec, args, canonical, key.operation_id if key is not None else None)
    return render(execute(call, site.policy()), as_json)


def execute(call: Call, policy: Policy) -> Answer:
    """The call's way through the runner: untracked, or exactly once through the store.

    The operation is named by its id alone (an RPC call records no key text).
    """
    key = None if call.operation_id is None else OperationKey(call.operation_id, "", OPERATION_ID_HEADER)
    aliases = atomic_request_aliases()
    return respond(runner.run(CallWork(call, aliases), key, policy, aliases), call)


def schema_view(site: RpcSite, request: HttpRequest, schema_hash: str) -> HttpResponseBase:
    """``GET <prefix>_schemas/<16 hex>/``: one schema, the same document the inspection API serves
    (:func:`op_store.schema_json.schema_document`; content-addressed: cacheable forever)."""
    if request.method not in ("GET", "HEAD"):
        return not_allowed(("GET", "HEAD"))
    schema_id = parse_hash(schema_hash)
    schema = site.get_schema(schema_id)
    if schema is None:
        return problem_response(p.SCHEMA_NOT_FOUND, f"No schema {format_hash(schema_id)} is known here.")
    response = JsonResponse(schema_document(schema, site))
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


def index_view(site: RpcSite, request: HttpRequest) -> HttpResponseBase:
    """``GET <prefix>``: the services, their methods, method ids and argument/reply TypeRefs."""
    if request.method not in ("GET", "HEAD"):
        return not_allowed(("GET", "HEAD"))
    base = request.path if request.path.endswith("/") else request.path + "/"
    services: list[dict[str, Any]] = []
    for service in site.services():
        methods = [
            {
                "name": m.wire_name,
                "path": f"{base}{service.wire_name}/{m.wire_name}",
                "method_id": format_hash(m.method_id),
                "idempotent": m.idempotent,
                "params": [param.json_names[-1] for param in m.params],
                "args_type": m.args_root.to_json(),
                "reply_type": m.reply_root.to_json(),
            }
            for m in service.methods.values()
        ]
        services.append({"name": service.wire_name, "methods": methods})
    return JsonResponse({"services": services, "schemas": f"{base}{SCHEMAS_SEGMENT}/{{hash}}/"})
