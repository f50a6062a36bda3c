"""``ExactlyOnceMixin``: exactly-once for the writing actions of a DRF viewset or generic view, nothing per method."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from op_store.decorators import exactly_once, options_of

#: The attribute of a handler the mixin wrapped: the handler as the class defined it.
_UNWRAPPED = "op_store_mixin_unwrapped"


class ExactlyOnceMixin:
    """Apply ``@exactly_once(**exactly_once_options)`` to the handlers named in ``exactly_once_actions``.

    Put it first among the bases::

        class PaymentViewSet(ExactlyOnceMixin, viewsets.ModelViewSet):
            exactly_once_options = {"atomic": True}

    The handlers run inside ``APIView.dispatch``, so the scope is resolved after DRF authenticated
    the request (token, session, JWT...) and op_store's problems go through the view's exception
    handler (see ``docs/drf.md``). Handlers missing from the class are skipped; a handler the class
    decorates with ``@exactly_once`` itself keeps its own options. A subclass may change either
    attribute: its handlers are wrapped again, from the undecorated methods.
    """

    #: Handler (action) names: viewset actions, or what a generic view's ``post``/``put``/... call.
    exactly_once_actions: ClassVar[Sequence[str]] = ("create", "update", "partial_update", "destroy")
    #: Keyword arguments of ``exactly_once`` (``required``, ``atomic``, ``scope``...).
    exactly_once_options: ClassVar[Mapping[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        decorate = exactly_once(**cls.exactly_once_options)
        reconfigured = "exactly_once_options" in cls.__dict__ or "exactly_once_actions" in cls.__dict__
        for name in cls.exactly_once_actions:
            handler = getattr(cls, name, None)
            if not callable(handler):
                continue
            if options_of(handler) is not None and (name in cls.__dict__ or not reconfigured):
                continue  # exactly-once already: the class's own, or as its parent configured it
            unwrapped = getattr(handler, _UNWRAPPED, handler)
            if options_of(unwrapped) is not None:
                continue  # decorated by the class that defines it
            wrapped = decorate(unwrapped)
            setattr(wrapped, _UNWRAPPED, unwrapped)
            setattr(cls, name, wrapped)
