"""Which operations of a DRF view apply exactly-once, and with which options (read from the decorator's marker).

``@exactly_once`` leaves its :class:`~op_store.engine.policy.Options` on what it wraps (the
``op_store_exactly_once`` attribute): a URL callback (``as_view()`` or ``@api_view`` result), a view
class's ``dispatch``, or a handler method (``post``, a viewset action, the methods
:class:`~op_store.drf.mixins.ExactlyOnceMixin` wraps). The schema extension (:mod:`op_store.drf.schema`)
asks :func:`exactly_once_operations` which operations of a route to document. No drf-spectacular import.
"""

from __future__ import annotations

from typing import Any

from op_store.decorators import MARKER
from op_store.engine.policy import Options

#: What DRF's generic views call for each HTTP method: ``CreateAPIView.post`` calls ``create``...
GENERIC_ACTIONS: dict[str, tuple[str, ...]] = {
    "get": ("list", "retrieve"),
    "post": ("create",),
    "put": ("update",),
    "patch": ("partial_update",),
    "delete": ("destroy",),
}


def marker(obj: object) -> Options | None:
    """The options ``@exactly_once`` left on ``obj`` (directly, or on the function an ``@api_view`` handler calls)."""
    options = getattr(obj, MARKER, None)
    if isinstance(options, Options):
        return options
    wrapped = api_view_function(obj)
    options = getattr(wrapped, MARKER, None) if wrapped is not None else None
    return options if isinstance(options, Options) else None


def api_view_function(handler: object) -> Any:
    """The function an ``@api_view`` handler method calls, None for any other method.

    ``api_view`` makes one class per function whose handler methods call the function through their
    closure (``def handler(self, *args, **kwargs): return func(*args, **kwargs)``); checked against
    DRF 3.18. That is where ``@exactly_once`` sits when it is put under ``@api_view``.
    """
    if not getattr(handler, "__qualname__", "").startswith("api_view."):
        return None
    for cell in getattr(handler, "__closure__", None) or ():
        contents = cell.cell_contents
        if callable(contents) and getattr(contents, MARKER, None) is not None:
            return contents
    return None


def exactly_once_operations(callback: Any) -> dict[str, Options]:
    """HTTP method (upper case) -> the options exactly-once runs with, for each exactly-once operation of a route.

    ``callback`` is what the URL pattern calls (an ``as_view()`` result, possibly wrapped by
    ``@exactly_once``). The outermost decorator wins, as it does on a request (an inner one then
    only passes the call through): around the callback, then on ``dispatch``, then on the handler
    (a viewset's routed action, or an ``APIView``'s method handler, or the generic action it calls).
    """
    view_class = getattr(callback, "cls", None)
    if view_class is None:
        return {}
    around = marker(callback) or marker(getattr(view_class, "dispatch", None))
    routed: dict[str, str] | None = getattr(callback, "actions", None)  # a viewset route: method -> action
    if routed:
        candidates = {method: (action,) for method, action in routed.items()}
    else:
        candidates = {
            method: (method, *GENERIC_ACTIONS.get(method, ()))
            for method in view_class.http_method_names
            if hasattr(view_class, method)
        }
    found: dict[str, Options] = {}
    for method, names in candidates.items():
        options = around or next(
            (o for o in (marker(getattr(view_class, name, None)) for name in names) if o is not None), None
        )
        if options is not None:
            found[method.upper()] = options
    return found
