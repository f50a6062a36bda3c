"""The HTTP entry points of the runner: ``handle`` (sync) and ``ahandle`` (async) wrap one view call.

Both the decorator and the middleware go through them, so a view behaves the same whichever applies
exactly-once to it. Each reads the request's key, passes the view call to the runner
(:mod:`op_store.engine.runner`) as :mod:`work <.work>`, and answers through the HTTP
:mod:`responder <.responder>`. See ``docs/architecture.md``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from django.http import HttpRequest

from op_store._compat import django_request
from op_store.engine import runner
from op_store.engine.keys import MalformedKeyError, OperationKey, key_from_request
from op_store.engine.outcomes import Rejected
from op_store.engine.policy import Options
from op_store.engine.transactions import wrap_atomic
from op_store.problems import MALFORMED_KEY, ProblemError

from .responder import respond
from .work import AsyncView, AsyncViewWork, SyncView, ViewWork

__all__ = ["AsyncView", "SyncView", "ahandle", "awaiting", "handle"]

_CLAIMED = "_op_store_lifecycle"


def _claim(request: HttpRequest) -> bool:
    """Mark the request as handled; True if it already was (a second decorator, or decorator + middleware)."""
    inner = django_request(request)
    if getattr(inner, _CLAIMED, False):
        return True
    setattr(inner, _CLAIMED, True)
    return False


def _read_key(request: HttpRequest) -> OperationKey | Rejected | None:
    try:
        return key_from_request(request)
    except MalformedKeyError as exc:
        return Rejected(ProblemError(MALFORMED_KEY, str(exc)))


def handle(request: HttpRequest, call_view: SyncView, options: Options, atomic_aliases: Sequence[str]) -> Any:
    """Exactly-once around a synchronous view call.

    ``atomic_aliases``: the databases whose ``ATOMIC_REQUESTS`` transaction must be opened around the
    view here (because Django was told not to; see :func:`op_store._compat.opt_out_of_atomic_requests`).
    """
    if _claim(request):
        return wrap_atomic(call_view, atomic_aliases)()
    policy = options.resolve(request)
    key = _read_key(request)
    if isinstance(key, Rejected):
        return respond(key, request)
    work = ViewWork(request, call_view, policy.atomic, atomic_aliases)
    return respond(runner.run(work, key, policy, atomic_aliases), request)


async def ahandle(request: HttpRequest, call_view: AsyncView, options: Options, atomic_aliases: Sequence[str]) -> Any:
    """Exactly-once around an asynchronous view call; store calls run via ``sync_to_async``."""
    if atomic_aliases:
        raise RuntimeError("You cannot use ATOMIC_REQUESTS with async views.")  # as Django says
    if _claim(request):
        return await call_view()
    policy = options.resolve(request)
    key = _read_key(request)
    if isinstance(key, Rejected):
        return respond(key, request)
    outcome = await runner.arun(AsyncViewWork(request, call_view), key, policy)
    return respond(outcome, request)


def awaiting(call: Callable[[], Any]) -> AsyncView:
    """An async view call from a sync callable that returns a coroutine (an async view's dispatch)."""

    async def call_async() -> Any:
        result = call()
        if inspect.isawaitable(result):
            result = await result
        return result

    return call_async
