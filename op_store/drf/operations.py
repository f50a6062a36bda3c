"""Which operations of a DRF view apply exactly-once, and with which options (read from the decorator's marker).

``@exactly_once`` leaves its :class:`~op_store.engine.policy.Options` on what it wraps (the
``op_store_exactly_once`` attribute): a URL callback (``as_view()`` or ``@api_view`` result), a view
class's ``dispatch``, or a handler method (``post``, a viewset action, the methods
:class:`~op_store.drf.mixins.ExactlyOnceMixin` wraps). The schema extension (:mod:`op_store.drf.schema`)
asks :func:`exactly_once_operations` which operations of a route to document. No drf-spectacular import.
"""

from __future__ import annotations

from typing import Any

from op_store.decorators import options_of
from op_store.engine.policy import Options

#: What DRF's generic views call for each HTTP method: ``CreateAPIView.post`` calls ``create``...
GENERIC_ACTIONS: dict[str, tuple[str, ...]] = {
    "get": ("list", "retrieve"),
    "post": ("create",),
    "put": ("update",),
    "patch": ("partial_update",),
    "delete": ("destroy",),
}


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
    around = options_of(callback) or options_of(getattr(view_class, "dispatch", None))
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
            (o for o in (options_of(getattr(view_class, name, None)) for name in names) if o is not None), None
        )
        if options is not None:
            found[method.upper()] = options
    return found
