"""Django-hosted RPC endpoints with exactly-once delivery, and their Python client (see ``docs/architecture.md``).

Declare a service (:mod:`.service`), serve it with an :class:`RpcSite` (:mod:`.site`), call it with
:class:`~op_store.rpc.client.RpcClient` (:mod:`.client`, standard library only). The modules:

- :mod:`.service` — ``rpc_method``, ``Service``, ``describe``: methods, ids, codecs, schemas
- :mod:`.errors` — ``VoxError`` (the wire enum), ``UserError`` and the client's exceptions
- :mod:`.wire` — content types, headers, root type references
- :mod:`.jsonvalues` — typed arguments from JSON
- :mod:`.site`, :mod:`.views`, :mod:`.calls`, :mod:`.responder` — the Django side (imported lazily); a
  call runs through the same runner as an ``exactly_once`` view (:mod:`op_store.engine`)
- :mod:`.client` — ``RpcClient``, ``RemoteSchemaSource``

``import op_store.rpc`` (and the client) does not import Django; ``RpcSite`` and ``urls`` load it on
first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    ReplyTypeMismatch,
    RpcError,
    RpcProblem,
    RpcTransportError,
    UserError,
    VoxError,
    VoxRpcError,
)
from .service import MethodSpec, Service, ServiceSpec, describe, rpc_method

if TYPE_CHECKING:
    from .site import RpcSite, urls

__all__ = [
    "MethodSpec",
    "ReplyTypeMismatch",
    "RpcError",
    "RpcProblem",
    "RpcSite",
    "RpcTransportError",
    "Service",
    "ServiceSpec",
    "UserError",
    "VoxError",
    "VoxRpcError",
    "describe",
    "rpc_method",
    "urls",
]

_LAZY = {"RpcSite", "urls"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import site

        return getattr(site, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY)
