"""drf-spectacular: each exactly-once operation documents its key header, its replay header and its problems.

Imported by ``OpStoreConfig.ready()`` when drf-spectacular is installed, which registers
:class:`ExactlyOnceViewExtension`; nothing is added per view. For every route whose operations
apply ``@exactly_once`` (see :func:`op_store.drf.operations.exactly_once_operations`), the extension
hands spectacular a subclass of the view whose schema inspector is the view's own with
:class:`ExactlyOnceAutoSchema` mixed in; that inspector adds to exactly those operations:

- the ``Idempotency-Key`` request header, required when ``REQUIRE_KEY`` (or ``required=True``) makes
  it so for the method, with its format;
- the ``Idempotent-Replayed`` header on every documented response the seal policy stores;
- an ``application/problem+json`` response per status (400, 403, 409, 410, 413, 422, 503) listing the
  problem ``type`` URIs the operation can answer with, given its options.

Operations without exactly-once, and views without any, are left as spectacular makes them. A view
another ``OpenApiViewExtension`` replaces is documented by that extension only (this one has the
lowest priority). See ``docs/drf.md``.
"""

from __future__ import annotations

import functools
from typing import Any

from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent, get_class
from rest_framework.views import APIView

from op_store import headers
from op_store import problems as p
from op_store.decorators import options_of
from op_store.engine.keys import MAX_KEY_LENGTH
from op_store.engine.policy import SAFE_METHODS, Options, Policy, StalePolicy
from op_store.engine.transactions import atomic_request_aliases
from op_store.lifecycle.fingerprints import method_and_path
from op_store.lifecycle.scopes import shared_scope

from .operations import GENERIC_ACTIONS, around_options, exactly_once_operations, operation_options

#: The attribute of the replacement view class holding the options of a decorator around the whole view.
AROUND = "op_store_exactly_once_around"
#: The name of the problem+json schema in ``components.schemas``.
PROBLEM_COMPONENT = "ExactlyOnceProblem"

#: An ``Idempotency-Key`` value: a bare key of visible ASCII (not starting with a quote), or an
#: RFC 8941 string (printable ASCII, ``\"`` and ``\\`` escapes); 1 to 255 characters of key either way.
KEY_PATTERN = rf'^(?:[!#-~][!-~]{{0,{MAX_KEY_LENGTH - 1}}}|"(?:[ !#-\[\]-~]|\\["\\]){{1,{MAX_KEY_LENGTH}}}")$'


class ExactlyOnceAutoSchema(AutoSchema):
    """Spectacular's inspector, plus what exactly-once adds to the operations the view marks (see the module doc)."""

    def get_operation(
        self, path: str, path_regex: str, path_prefix: str, method: str, registry: Any
    ) -> dict[str, Any] | None:
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        view = self.view
        around = getattr(view, AROUND, None)
        options = operation_options(type(view), method, getattr(view, "action", None), around)
        if operation is not None and options is not None:
            document(operation, options, method.upper(), registry)
        return operation


#: Inspector class -> the same with ExactlyOnceAutoSchema mixed in (one class per inspector class).
_documenting: dict[type, type[AutoSchema]] = {}


def documenting(base: type[AutoSchema]) -> type[AutoSchema]:
    """``base`` (the view's or a method's own inspector class) with :class:`ExactlyOnceAutoSchema` mixed in."""
    if issubclass(base, ExactlyOnceAutoSchema):
        return base
    if base not in _documenting:
        name = f"ExactlyOnce{base.__name__}"
        _documenting[base] = type(name, (ExactlyOnceAutoSchema, base), {"__module__": base.__module__})
    return _documenting[base]


def _with_schema(handler: Any, schema_class: type[AutoSchema]) -> Any:
    """A copy of ``handler`` whose own inspector (``kwargs["schema"]``, see ``@extend_schema``) is ``schema_class``."""

    @functools.wraps(handler)
    def documented(*args: Any, **kwargs: Any) -> Any:
        return handler(*args, **kwargs)

    documented.kwargs = {**handler.kwargs, "schema": schema_class}  # type: ignore[attr-defined]
    return documented


class ExactlyOnceViewExtension(OpenApiViewExtension):
    """Every DRF view: the exactly-once ones are replaced by a documenting subclass, the others kept."""

    target_class = "rest_framework.views.APIView"
    match_subclasses = True
    priority = -1

    def view_replacement(self) -> Any:
        target = self.target
        # The URL callback, which recent drf-spectacular versions pass; older ones pass only the view
        # class, and a decorator around the callback then goes unseen.
        callback = getattr(self, "target_callback", None)
        base = get_class(target.schema)
        if not issubclass(base, AutoSchema) or not _applies(target, callback):
            return target
        attrs: dict[str, Any] = {
            AROUND: around_options(target, callback),
            "schema": documenting(base)(),
            "__module__": target.__module__,
            "__doc__": target.__doc__,
        }
        # Spectacular prefers a handler's own inspector (``@extend_schema`` on a method or an action):
        # mix into that one too.
        for name in _handler_names(target, callback):
            handler = getattr(target, name, None)
            own = getattr(handler, "kwargs", None)
            if isinstance(own, dict) and own.get("schema") is not None:
                attrs[name] = _with_schema(handler, documenting(get_class(own["schema"])))
        return type(target.__name__, (target,), attrs)


def _handler_names(view_class: type[APIView], callback: Any) -> list[str]:
    """The handlers of the route: its viewset actions, else the class's method handlers.

    Without the callback (older drf-spectacular), a viewset's route is unknown: every action it has,
    and what a generic view's method handlers call, may be asked for.
    """
    routed = getattr(callback, "actions", None)
    if routed:
        return list(routed.values())
    names = list(view_class.http_method_names)
    if callback is None:
        names += [name for actions in GENERIC_ACTIONS.values() for name in actions]
        names += [name for name in dir(view_class) if hasattr(getattr(view_class, name, None), "mapping")]
    return [name for name in names if callable(getattr(view_class, name, None))]


def _applies(view_class: type[APIView], callback: Any) -> bool:
    """Whether any operation of the route (of the view, without a callback) applies exactly-once."""
    if callback is not None:
        return bool(exactly_once_operations(callback))
    return around_options(view_class) is not None or any(
        options_of(getattr(view_class, name, None)) is not None for name in _handler_names(view_class, None)
    )


# --- what an exactly-once operation adds ---------------------------------------------------------


def document(operation: dict[str, Any], options: Options, method: str, registry: Any) -> None:
    """Add the key header, the replay header and the problem responses to one operation (in place)."""
    policy = options.resolve_for(unsafe=method not in SAFE_METHODS)
    _add_key_parameter(operation, policy.required)
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for code, response in responses.items():
        if code.isdigit() and "$ref" not in response and policy.seals(int(code)):
            response.setdefault("headers", {}).setdefault(headers.REPLAYED, _replayed_header())
    ref = _problem_schema(registry)
    by_status: dict[int, list[p.ProblemType]] = {}
    for problem in answers(policy):
        by_status.setdefault(problem.status, []).append(problem)
    for status, problems in by_status.items():
        _add_problem_response(responses, status, problems, ref)
    operation["responses"] = dict(sorted(responses.items(), key=lambda item: (not item[0].isdigit(), item[0])))


def answers(policy: Policy) -> list[p.ProblemType]:
    """The problems an operation under ``policy`` can answer with instead of its own response.

    Left out: what its options rule out (no ``missing-key`` when no key is required, no
    ``anonymous-key`` with :func:`~op_store.lifecycle.scopes.shared_scope`, no ``request-too-large``
    with a fingerprint that reads no body, no ``indeterminate`` when stale operations are re-run), the
    problems of a run in a transaction (``ownership-lost``, ``seal-failed``) when it never runs in
    one (not ``atomic``, no ``ATOMIC_REQUESTS``), and the server errors (500).
    """
    transactional = policy.atomic or bool(atomic_request_aliases())
    found = [p.MALFORMED_KEY]
    if policy.required:
        found.append(p.MISSING_KEY)
    if policy.scope is not shared_scope:
        found.append(p.ANONYMOUS_KEY)
    if policy.fingerprint is not method_and_path:
        found.append(p.REQUEST_TOO_LARGE)
    found.append(p.IN_FLIGHT)
    if policy.stale is not StalePolicy.REEXECUTE:
        found.append(p.INDETERMINATE)
    if transactional and policy.stale is not StalePolicy.INDETERMINATE:
        found.append(p.OWNERSHIP_LOST)
    found += [p.EXPIRED, p.FINGERPRINT_MISMATCH]
    if transactional:
        found.append(p.SEAL_FAILED)
    return found


#: Problems answered with ``Retry-After`` (the client should retry the same key later).
_RETRY_LATER = frozenset({p.IN_FLIGHT, p.OWNERSHIP_LOST, p.SEAL_FAILED})


def _add_key_parameter(operation: dict[str, Any], required: bool) -> None:
    parameters: list[dict[str, Any]] = operation.setdefault("parameters", [])
    name = headers.IDEMPOTENCY_KEY
    if any(q.get("in") == "header" and str(q.get("name", "")).lower() == name.lower() for q in parameters):
        return  # declared by the view itself
    when = (
        "Required for this operation (400 `missing-key` without it)."
        if required
        else "Optional: without it the request runs as usual, without exactly-once."
    )
    parameters.append(
        {
            "in": "header",
            "name": name,
            "required": required,
            "description": (
                "Exactly-once delivery: retries that send the same key get the first response replayed "
                "(with `Idempotent-Replayed: true`) instead of running again. 1 to 255 visible ASCII "
                "characters, bare or as an RFC 8941 string; keys are kept per caller. A vox client may "
                f"send `{headers.OPERATION_ID}` (a decimal u64) instead. {when}"
            ),
            "schema": {"type": "string", "minLength": 1, "pattern": KEY_PATTERN},
        }
    )


def _replayed_header() -> dict[str, Any]:
    return {
        "description": "`true` when this is the stored response of an earlier request with the same key, replayed.",
        "schema": {"type": "string", "enum": ["true"]},
    }


def _problem_schema(registry: Any) -> dict[str, Any]:
    """A ``$ref`` to the problem+json schema, registered in ``components.schemas`` on first use."""
    component = ResolvedComponent(
        name=PROBLEM_COMPONENT,
        type=ResolvedComponent.SCHEMA,
        object="op_store.problems",
        schema={
            "type": "object",
            "description": (
                "An RFC 9457 problem from exactly-once delivery. Branch on `type` (or `code`), never on `title` "
                "or `detail`."
            ),
            "properties": {
                "type": {"type": "string", "description": f"`{p.TYPE_PREFIX}<code>`"},
                "code": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
            },
            "required": ["type", "code", "title", "status", "detail"],
        },
    )
    registry.register_on_missing(component)
    return component.ref


def _add_problem_response(
    responses: dict[str, Any], status: int, problems: list[p.ProblemType], ref: dict[str, Any]
) -> None:
    media = {
        "schema": {
            "allOf": [
                ref,
                {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string", "enum": [problem.type for problem in problems]},
                        "code": {"type": "string", "enum": [problem.code for problem in problems]},
                        "status": {"type": "integer", "enum": [status]},
                    },
                },
            ]
        }
    }
    listed = "; ".join(f"{problem.title} (`{problem.type}`)" for problem in problems)
    response = responses.setdefault(str(status), {"description": ""})
    if "$ref" in response:
        return  # a shared response component the view chose: left as it is
    response.setdefault("content", {}).setdefault(p.PROBLEM_CONTENT_TYPE, media)
    response["description"] = " ".join(filter(None, [response.get("description"), f"Exactly-once: {listed}."]))
    retried = [problem.code for problem in problems if problem in _RETRY_LATER]
    if retried:
        response.setdefault("headers", {}).setdefault(
            headers.RETRY_AFTER,
            {
                "description": f"Seconds to wait before retrying with the same key ({', '.join(retried)}).",
                "schema": {"type": "integer"},
            },
        )
