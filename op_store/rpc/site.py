"""``RpcSite``: a registry of services and the urlconf that serves them.

::

    site = RpcSite([Ledger])                      # or: site.register(Ledger), also as a decorator
    urlpatterns = [path("rpc/", include(site.urls))]

gives ``POST rpc/<service>/<method>`` (names as declared or kebab-cased: ``rpc/ledger/open-account``
and ``rpc/Ledger/open_account`` are the same method), ``GET rpc/_schemas/<16 hex>/`` (a schema by
hash, for clients that meet an unknown root type) and ``GET rpc/`` (the services, method ids and
TypeRefs). ``op_store.rpc.urls(services=[...])`` is the one-line form.

Options default to the ``OP_STORE`` settings, read on every request (so ``override_settings``
applies): ``scope`` (``SCOPE_RESOLVER``: whose operation ids these are; by default the user or the
session, and anonymous calls with an operation id are refused with 403), ``lease`` (``LEASE``),
``wait`` (``WAIT``: seconds a duplicate polls a running call before 409), ``stale``
(``STALE_POLICY``), and ``store`` (``callable(scope) -> LeasedOperationStore``; default the ORM
store). ``require_operation_id=True`` answers 400 to non-idempotent calls without one; by default
such calls just run, untracked, as vox runs calls that carry no operation id.
``admission="in_transaction"`` is the one-commit mode for the site's atomic methods (their
admission commits with their writes and reply; see ``exactly_once`` and ``docs/settings.md``):
only for methods whose every effect is in the store's database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.urls import URLPattern, path, re_path
from django.views.decorators.csrf import csrf_exempt

from op_store import _compat
from op_store.decorators import MARKER
from op_store.engine.policy import Options, Policy, ScopeResolver, StoreFactory
from op_store.vox import Err, Schema, SchemaRegistry, codec_for, kebab, schema_for

from . import views
from .calls import Reply
from .errors import VoxError
from .service import UNKNOWN_METHOD_REPLY, MethodSpec, ServiceSpec, describe
from .wire import SCHEMAS_SEGMENT

C = TypeVar("C", bound=type)


class RpcSite:
    """Services served under one URL prefix, with one set of exactly-once options."""

    def __init__(
        self,
        services: Iterable[type] = (),
        *,
        name: str = "op_store_rpc",
        store: StoreFactory | None = None,
        scope: ScopeResolver | str | None = None,
        lease: float | timedelta | None = None,
        wait: float | timedelta | None = None,
        stale: str | None = None,
        require_operation_id: bool = False,
        admission: str = "committed",
    ) -> None:
        if not isinstance(require_operation_id, bool):
            raise ImproperlyConfigured(
                f"RpcSite(require_operation_id=...) must be True or False, got {require_operation_id!r}"
            )
        try:
            self.options = Options.build(
                required=require_operation_id,
                scope=scope,
                lease=lease,
                wait=wait,
                stale=stale,
                admission=admission,
                store=store,
            )
        except ImproperlyConfigured as exc:
            raise ImproperlyConfigured(f"RpcSite options: {exc}") from exc
        self.name = name
        self.require_operation_id = require_operation_id
        self._services: dict[str, ServiceSpec] = {}
        unknown_root, unknown_registry = schema_for(UNKNOWN_METHOD_REPLY)
        self.registry = SchemaRegistry(unknown_registry.values())
        self._unknown = Reply(
            codec_for(UNKNOWN_METHOD_REPLY).encode(Err(VoxError.UnknownMethod())), unknown_root, None, unknown_registry
        )
        for service in services:
            self.register(service)

    def __repr__(self) -> str:
        return f"<RpcSite {self.name!r}: {', '.join(self._services) or 'no services'}>"

    def register(self, service: C) -> C:
        """Serve ``service`` (a class; see :mod:`op_store.rpc.service`); returns it, so it works as a decorator."""
        spec = describe(service)
        known = self._services.get(spec.wire_name)
        if known is not None and known.cls is not service:
            raise ImproperlyConfigured(
                f"RpcSite {self.name!r}: services {known.cls.__qualname__} and {service.__qualname__} are both "
                f"named {spec.wire_name!r}"
            )
        self._services[spec.wire_name] = spec
        for method in spec.methods.values():
            self.registry.update(method.registry)
        return service

    def services(self) -> list[ServiceSpec]:
        return list(self._services.values())

    def lookup(self, service: str, method: str) -> MethodSpec | None:
        """A method by service and method name (any case style), None if this site has no such method."""
        spec = self._services.get(kebab(service))
        return spec.method(method) if spec is not None else None

    def unknown_method_reply(self) -> Reply:
        """``Err(UnknownMethod)`` as vox sends it: ``Result<(), VoxError<Infallible>>``."""
        return self._unknown

    def policy(self) -> Policy:
        """The options with ``OP_STORE`` filling the gaps, resolved as for an ``exactly_once`` view.

        Calls are POSTs (unsafe); an operation id is required only with ``require_operation_id``
        (``REQUIRE_KEY`` is the middleware's, not the site's). Resolved on every call (cached until
        the settings change), so ``override_settings`` applies.
        """
        return self.options.resolve_for(unsafe=True)

    def get_schema(self, schema_id: int) -> Schema | None:
        """A schema of this site's methods, else one the store holds (replies sealed under older types)."""
        schema = self.registry.get_schema(schema_id)
        if schema is None:
            schema = self.policy().store("").schema_source().get_schema(schema_id)
        return schema

    def views(self) -> dict[str, Callable[..., Any]]:
        """The three views bound to this site (what :attr:`urls` routes to)."""

        def call(request: HttpRequest, service: str, method: str) -> Any:
            return views.call_view(self, request, service, method)

        def schema(request: HttpRequest, schema_hash: str) -> Any:
            return views.schema_view(self, request, schema_hash)

        def index(request: HttpRequest) -> Any:
            return views.index_view(self, request)

        call = csrf_exempt(call)
        # The view runs its own exactly-once flow: ExactlyOnceMiddleware must leave it alone, and Django must
        # not wrap it in ATOMIC_REQUESTS transactions (they would enclose the admission; the call opens them).
        setattr(call, MARKER, self)
        _compat.opt_out_of_atomic_requests(call, set())
        return {"call": call, "schema": schema, "index": index}

    @property
    def urls(self) -> tuple[list[URLPattern], str]:
        """``(patterns, app_name)`` for ``include()``; the app name (and default namespace) is the site's name."""
        v = self.views()
        patterns = [
            path("", v["index"], name="index"),
            re_path(rf"^{SCHEMAS_SEGMENT}/(?P<schema_hash>[0-9a-fA-F]{{16}})/$", v["schema"], name="schema"),
            re_path(rf"^{SCHEMAS_SEGMENT}/(?P<schema_hash>[0-9a-fA-F]{{16}})$", v["schema"]),
            re_path(r"^(?P<service>[^/]+)/(?P<method>[^/]+)/?$", v["call"], name="call"),
        ]
        return patterns, self.name


def urls(services: Iterable[type], **options: Any) -> tuple[list[URLPattern], str]:
    """``RpcSite(services, **options).urls``: ``path("rpc/", include(op_store.rpc.urls([Ledger])))``."""
    return RpcSite(services, **options).urls
