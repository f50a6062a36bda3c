"""``@exactly_once``: exactly-once delivery for one view; ``@exactly_once_exempt``: none, even under the middleware.

Works on function views, sync and async; on class-based views (decorate the class, its
``dispatch`` with ``method_decorator``, or a handler method directly); and on DRF views (``@api_view``
functions, ``APIView`` classes, handler and viewset action methods). See :func:`exactly_once`.

DRF authenticates inside ``APIView.dispatch``. Around a whole DRF view (``@api_view``, ``as_view()``,
``dispatch``) the scope therefore comes from Django's authentication (sessions); for token or JWT
authentication put the decorator on the handler method (``post``, ``create``...), where
``request.user`` is DRF's. There the decorator also turns DRF exceptions into DRF's error replies and
finalizes the response before sealing, as ``dispatch`` would, and its own problems (409, 422...) go
through the view's exception handler (:mod:`op_store.lifecycle.drf_problems`). See ``docs/drf.md``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, TypeVar, overload

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.decorators import method_decorator

from op_store import _compat
from op_store.engine.policy import Fingerprint, Options, ScopeResolver, StoreFactory
from op_store.engine.transactions import atomic_request_aliases
from op_store.lifecycle.engine import ahandle, awaiting, handle
from op_store.lifecycle.work import SyncView

V = TypeVar("V", bound=Callable[..., Any])

#: The attribute that marks a view (function, dispatch or handler) as handled by ``exactly_once``.
MARKER = "op_store_exactly_once"
#: The attribute that marks a view as exempt (``exactly_once_exempt``).
EXEMPT_MARKER = "op_store_exactly_once_exempt"


def _is_request(obj: object) -> bool:
    return isinstance(obj, HttpRequest) or _compat.is_drf_request(obj)


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _is_async_dispatch(view: Callable[..., Any]) -> bool:
    """A bound method (as ``method_decorator`` passes it) of an async class-based view."""
    owner = getattr(getattr(view, "func", view), "__self__", None)
    return owner is not None and bool(getattr(type(owner), "view_is_async", False))


def _split(args: tuple[Any, ...]) -> Any:
    """The request among a view's positional arguments: first (a function) or second (a method)."""
    if args and _is_request(args[0]):
        return args[0]
    if len(args) > 1 and _is_request(args[1]):
        return args[1]
    raise TypeError("exactly_once: the decorated callable was not called with a request (is it a view?)")


def _view_call(view: Callable[..., Any], request: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> SyncView:
    """A zero-argument call of the view: a :class:`_HandlerCall` inside a DRF view."""
    if not _compat.is_drf_request(request):
        return lambda: view(*args, **kwargs)
    return _HandlerCall(view, request, args, kwargs)


class _HandlerCall:
    """The call of a handler method inside a DRF view (the request is a DRF ``Request``).

    It does what ``APIView.dispatch`` would do next, so the reply can be sealed as the client will
    see it: exceptions become DRF's error responses and the response is finalized (renderer chosen)
    before it is rendered. It remembers the view's response, so that :meth:`answer` can tell it from
    op_store's own answers.
    """

    def __init__(self, view: Callable[..., Any], request: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.view = view
        self.request = request
        self.args = args
        self.kwargs = kwargs
        self.drf_view = (getattr(request, "parser_context", None) or {}).get("view")
        self.produced: Any = None

    def __call__(self) -> Any:
        drf_view = self.drf_view
        try:
            response = self.view(*self.args, **self.kwargs)
        except Exception as exc:
            if drf_view is None:
                raise
            response = drf_view.handle_exception(exc)
        if drf_view is not None and isinstance(response, HttpResponseBase):
            response = drf_view.finalize_response(self.request, response, *drf_view.args, **drf_view.kwargs)
        self.produced = response
        return response

    def answer(self, response: Any) -> Any:
        """The response for the client: op_store's problems go through the view's exception handler."""
        if response is self.produced or self.drf_view is None:
            return response
        from op_store.lifecycle.drf_problems import handle_problem, is_problem_response

        return handle_problem(self.drf_view, response) if is_problem_response(response) else response


@overload
def exactly_once(view: V, /) -> V: ...


@overload
def exactly_once(
    view: None = None,
    /,
    *,
    required: bool | None = None,
    scope: ScopeResolver | str | None = None,
    fingerprint: Fingerprint | str | None = None,
    seal: Iterable[int] | Callable[[int], bool] | str | None = None,
    stale: str | None = None,
    wait: float | timedelta | None = None,
    lease: float | timedelta | None = None,
    atomic: bool = False,
    admission: str = "committed",
    store: StoreFactory | None = None,
) -> Callable[[V], V]: ...


def exactly_once(
    view: Any = None,
    /,
    *,
    required: bool | None = None,
    scope: ScopeResolver | str | None = None,
    fingerprint: Fingerprint | str | None = None,
    seal: Iterable[int] | Callable[[int], bool] | str | None = None,
    stale: str | None = None,
    wait: float | timedelta | None = None,
    lease: float | timedelta | None = None,
    atomic: bool = False,
    admission: str = "committed",
    store: StoreFactory | None = None,
) -> Any:
    """Give a view exactly-once delivery for requests that carry ``Idempotency-Key`` or ``Vox-Operation-Id``.

    Every option defaults to its ``OP_STORE`` setting:

    - ``required``: answer 400 ``missing-key`` to unsafe requests without a key (``REQUIRE_KEY``).
    - ``scope``: ``callable(request) -> str``, whose keys these are (``SCOPE_RESOLVER``).
    - ``fingerprint``: ``callable(request) -> bytes``, what must match on a retry (``FINGERPRINT``).
    - ``seal``: status codes, or ``callable(status) -> bool``, of the replies to seal (``SEAL_STATUSES``);
      any other reply releases the key so a retry runs again.
    - ``stale``: ``"indeterminate"``, ``"reexecute"`` or ``"reexecute_if_transactional"`` (``STALE_POLICY``).
    - ``wait``: seconds a duplicate waits for the running original before 409 (``WAIT``).
    - ``lease``: seconds (or timedelta) the admission is owned before it counts as stale (``LEASE``).
    - ``atomic``: run the view in a transaction on the store's database and seal inside it, so its
      writes and its sealed reply commit together (sync views only; ``ATOMIC_REQUESTS`` on that
      database does the same).
    - ``admission``: ``"committed"`` (default) commits the admission before the view runs, so any
      view is covered, even one with effects outside the database. ``"in_transaction"`` is the
      one-commit mode for views whose **every effect is in the store's database**: the admission
      is written in the view's transaction (implies ``atomic=True``) and commits with the seal, one
      commit per fresh request. A crash or an exception rolls it back with the view's writes, so a
      retry runs the view again: an e-mail sent or an API called before the crash is repeated.
      Concurrent duplicates still never run the view (409 in flight, or the replay with ``wait``).
    - ``store``: ``callable(scope) -> LeasedOperationStore`` (default: ``DjangoOperationStore(scope)``).

    Use as ``@exactly_once`` or ``@exactly_once(...)`` on a view function, a view class (its
    ``dispatch`` is wrapped), or a handler method (``def post(self, request)``, DRF actions too; for
    DRF views this is the place that sees DRF's authentication).
    """
    options = Options.build(
        required=required,
        scope=scope,
        fingerprint=fingerprint,
        seal=seal,
        stale=stale,
        wait=wait,
        lease=lease,
        atomic=atomic,
        admission=admission,
        store=store,
    )

    def decorate(target: Any) -> Any:
        if isinstance(target, type):
            return method_decorator(decorate, name="dispatch")(target)
        return _wrap(target, options)

    return decorate(view) if view is not None else decorate


def _atomic_aliases(request: Any) -> list[str]:
    """The ``ATOMIC_REQUESTS`` transactions this call must open itself.

    Django skips them for a view that opted out (:func:`op_store._compat.opt_out_of_atomic_requests`:
    the resolved callback is ours, directly or through ``as_view()``), so the runner opens them, after
    the admission. When the resolved callback did not opt out (a decorated handler method), Django has
    already opened them; with no resolver match (a view called directly) nobody does.
    """
    func = getattr(getattr(request, "resolver_match", None), "func", None)
    if not _compat.opted_out_of_atomic_requests(func):
        return []
    return atomic_request_aliases(_compat.non_atomic_requests(func))


def _wrap(view: Callable[..., Any], options: Options) -> Callable[..., Any]:
    non_atomic = _compat.non_atomic_requests(view)
    wrapper: Any
    if iscoroutinefunction(view):
        if options.atomic:
            raise ImproperlyConfigured(
                f"exactly_once(atomic=True) cannot wrap the async view {view!r}: Django transactions do not "
                "span awaits. Make the view synchronous, or drop atomic=True."
            )

        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            request = _split(args)
            return await ahandle(request, lambda: view(*args, **kwargs), options, _atomic_aliases(request))

        wrapper = async_wrapper
    else:
        async_dispatch = _is_async_dispatch(view)  # fixed for this view: asked once, not per request

        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            request = _split(args)
            call = _view_call(view, request, args, kwargs)
            if async_dispatch or _in_event_loop():
                # The dispatch of an async class-based view: its result is a coroutine, and the store
                # must not be called from the event loop.
                if options.atomic:
                    raise ImproperlyConfigured("exactly_once(atomic=True) cannot wrap an async view")
                return ahandle(request, awaiting(call), options, _atomic_aliases(request))
            response = handle(request, call, options, _atomic_aliases(request))
            return call.answer(response) if isinstance(call, _HandlerCall) else response

        wrapper = sync_wrapper
    functools.update_wrapper(wrapper, view)
    _compat.opt_out_of_atomic_requests(wrapper, non_atomic)
    setattr(wrapper, MARKER, options)
    if iscoroutinefunction(view):
        markcoroutinefunction(wrapper)
    return wrapper


def options_of(view: object) -> Options | None:
    """The options ``@exactly_once`` left on ``view`` (a function or method), None if it did not decorate it."""
    options = _marker(view)
    return options if isinstance(options, Options) else None


def _marker(view: object) -> Any:
    """What marks ``view`` as exactly-once: ``exactly_once``'s options, or the ``RpcSite`` serving it; else None.

    For the handler method of an ``@api_view`` view, the mark of the function it calls: there sits a
    decorator placed under ``@api_view`` (see :func:`_api_view_function`).
    """
    marker = getattr(view, MARKER, None)
    return marker if marker is not None else getattr(_api_view_function(view), MARKER, None)


def _api_view_function(handler: object) -> Any:
    """The function an ``@api_view`` handler method calls, None for any other method.

    ``api_view`` makes one class per function, whose handler methods call the function through their
    closure (``def handler(self, *args, **kwargs): return func(*args, **kwargs)``); checked against
    DRF 3.18.
    """
    if not getattr(handler, "__qualname__", "").startswith("api_view."):
        return None
    for cell in getattr(handler, "__closure__", None) or ():
        contents = cell.cell_contents
        if callable(contents) and getattr(contents, MARKER, None) is not None:
            return contents
    return None


def is_exactly_once(view: object) -> bool:
    """Whether ``view`` (a view function, an ``as_view()`` result or a view class) already applies exactly_once.

    Looks at the function itself, its class's ``dispatch`` (copied onto ``as_view()`` results by
    Django) and the class's handler methods (a decorator on ``post`` of a DRF view, or under
    ``@api_view``).
    """
    if _marker(view) is not None:
        return True
    cls = getattr(view, "view_class", None) or getattr(view, "cls", None) or (view if isinstance(view, type) else None)
    if cls is None:
        return False
    for name in dir(cls):
        if name.startswith("_"):
            continue
        attr = getattr(cls, name, None)
        if callable(attr) and _marker(attr) is not None:
            return True
    return False


def exactly_once_exempt(view: V) -> V:
    """Leave ``view`` alone: ``ExactlyOnceMiddleware`` passes its requests through even when they carry a key.

    Like ``csrf_exempt``: for views whose requests must never be admitted or replayed (a health
    check, a view that handles keys itself). Works on view functions (sync and async) and on view
    classes (their ``dispatch``). It does not undo an ``@exactly_once`` on the same view.
    """
    if isinstance(view, type):
        return method_decorator(exactly_once_exempt, name="dispatch")(view)
    wrapper: Any
    if iscoroutinefunction(view):

        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            return await view(*args, **kwargs)

        wrapper = markcoroutinefunction(async_wrapper)
    else:

        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            return view(*args, **kwargs)

        wrapper = sync_wrapper
    functools.update_wrapper(wrapper, view)
    setattr(wrapper, EXEMPT_MARKER, True)
    return wrapper


def is_exempt(view: object) -> bool:
    """Whether ``view`` (a view function or an ``as_view()`` result) is marked ``exactly_once_exempt``."""
    return bool(getattr(view, EXEMPT_MARKER, False))
