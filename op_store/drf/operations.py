"""Which operations of a DRF view apply exactly-once, and with which options (read from the decorator's marker).

``@exactly_once`` leaves its :class:`~op_store.engine.policy.Options` on what it wraps (the
``op_store_exactly_once`` attribute): a URL callback (``as_view()`` or ``@api_view`` result), a view
class's ``dispatch``, or a handler method (``post``, a viewset action, the methods
:class:`~op_store.drf.mixins.ExactlyOnceMixin` wraps). The schema extension (:mod:`op_store.drf.schema`)
asks :func:`exactly_once_operations` whether a route has any, and :func:`operation_options` for each
operation it documents. No drf-spectacular import.
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
    ``@exactly_once``); see :func:`operation_options`.
    """
    view_class = getattr(callback, "cls", None)
    if view_class is None:
        return {}
    around = around_options(view_class, callback)
    routed: dict[str, str] = getattr(callback, "actions", None) or {}  # a viewset route: method -> action
    methods = routed or [method for method in view_class.http_method_names if hasattr(view_class, method)]
    found: dict[str, Options] = {}
    for method in methods:
        options = operation_options(view_class, method, routed.get(method), around)
        if options is not None:
            found[method.upper()] = options
    return found


def around_options(view_class: type, callback: Any = None) -> Options | None:
    """The options of a decorator around the whole view: on its URL callback, else on its ``dispatch``."""
    return options_of(callback) or options_of(getattr(view_class, "dispatch", None))


def operation_options(view_class: type, method: str, action: str | None, around: Options | None) -> Options | None:
    """The options exactly-once runs one operation with, None when it does not apply.

    The outermost decorator wins, as it does on a request (an inner one then only passes the call
    through): ``around`` the whole view (see :func:`around_options`), else on the handler: the
    viewset ``action`` routed to, or an ``APIView``'s method handler, or the generic action it calls.
    """
    if around is not None:
        return around
    names = (action,) if action else (method.lower(), *GENERIC_ACTIONS.get(method.lower(), ()))
    for name in names:
        options = options_of(getattr(view_class, name, None))
        if options is not None:
            return options
    return None
