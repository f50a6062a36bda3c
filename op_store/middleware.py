"""``ExactlyOnceMiddleware``: the ``OP_STORE`` defaults for every view that receives a key.

A request is handled when it carries ``Idempotency-Key`` or ``Vox-Operation-Id``, or, with
``OP_STORE["REQUIRE_KEY"]``, when its method is unsafe (no key: 400 ``missing-key``). Every other
request, every view that applies ``@exactly_once`` itself, and every view marked
``@exactly_once_exempt`` passes through untouched.

Place it after ``AuthenticationMiddleware`` (the default scope is the user) and after every middleware
that has a ``process_view`` (``CsrfViewMiddleware``...): for a handled request it calls the view
itself from ``process_view``, so ``process_view`` of middleware below it does not run. System checks
``op_store.W040`` and ``op_store.W041`` say so when the order is wrong.

Why it calls the view itself: the seal must run inside the view's ``ATOMIC_REQUESTS`` transaction,
and the admission before it. Django opens that transaction only around the view call, after every
``process_view``; so the middleware runs the view wrapped exactly as Django would (one
``transaction.atomic`` per alias with ``ATOMIC_REQUESTS``, honouring ``non_atomic_requests``), with
the admission first and the seal inside. A view exception is raised from ``process_view``; Django
turns it into a 500 as usual, but ``process_exception`` of other middleware does not see it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import async_to_sync, iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from op_store import _compat
from op_store.conf import op_store_settings
from op_store.decorators import is_exactly_once, is_exempt
from op_store.engine.keys import has_key
from op_store.engine.policy import DEFAULT_OPTIONS, SAFE_METHODS
from op_store.engine.transactions import atomic_request_aliases
from op_store.lifecycle.engine import ahandle, handle

ViewFunc = Callable[..., Any]


class ExactlyOnceMiddleware:
    """Apply exactly-once delivery with the ``OP_STORE`` defaults to keyed requests (sync and async)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self._left_alone: dict[
            Any, bool
        ] = {}  # view -> whether to leave it alone (it applies @exactly_once itself, or is exempt)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)
            # Django adapts each process_view to the chain's mode; an async one saves a thread hop.
            self.process_view = self._process_view_async  # type: ignore[method-assign,assignment]

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> Any:
        return await self.get_response(request)

    def _applies(self, request: HttpRequest, view_func: ViewFunc) -> bool:
        if not has_key(request) and not (
            op_store_settings.REQUIRE_KEY and (request.method or "").upper() not in SAFE_METHODS
        ):
            return False
        known = self._left_alone.get(view_func)
        if known is None:
            known = self._left_alone[view_func] = is_exactly_once(view_func) or is_exempt(view_func)
        return not known

    def process_view(
        self, request: HttpRequest, view_func: ViewFunc, view_args: tuple[Any, ...], view_kwargs: dict[str, Any]
    ) -> HttpResponseBase | None:
        if not self._applies(request, view_func):
            return None
        aliases = atomic_request_aliases(_compat.non_atomic_requests(view_func))
        if iscoroutinefunction(view_func):
            call: Callable[[], Awaitable[Any]] = lambda: view_func(request, *view_args, **view_kwargs)  # noqa: E731
            return async_to_sync(ahandle)(request, call, DEFAULT_OPTIONS, aliases)
        return handle(request, lambda: view_func(request, *view_args, **view_kwargs), DEFAULT_OPTIONS, aliases)

    async def _process_view_async(
        self, request: HttpRequest, view_func: ViewFunc, view_args: tuple[Any, ...], view_kwargs: dict[str, Any]
    ) -> HttpResponseBase | None:
        if not self._applies(request, view_func):
            return None
        aliases = atomic_request_aliases(_compat.non_atomic_requests(view_func))
        if iscoroutinefunction(view_func):
            return await ahandle(
                request, lambda: view_func(request, *view_args, **view_kwargs), DEFAULT_OPTIONS, aliases
            )
        return await sync_to_async(handle, thread_sensitive=True)(
            request, lambda: view_func(request, *view_args, **view_kwargs), DEFAULT_OPTIONS, aliases
        )
