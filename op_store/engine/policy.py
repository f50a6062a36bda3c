"""Options and the policy a request or call runs under (options over the ``OP_STORE`` defaults).

:class:`Options` is what ``exactly_once(...)`` or ``RpcSite(...)`` was given, checked when the view
is decorated or the site built; None means "use the ``OP_STORE`` setting". :meth:`Options.resolve`
turns it into a :class:`Policy` on each request, so a changed setting (``override_settings`` in
tests) is honoured at once. HTTP views and RPC sites resolve through this same code.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.http import HttpRequest

from op_store.conf import STALE_POLICIES, as_callable, as_duration, as_seal_predicate, op_store_settings
from op_store.store.base import LeasedOperationStore

ScopeResolver = Callable[[HttpRequest], str]
Fingerprint = Callable[[HttpRequest], bytes]
StoreFactory = Callable[[str], LeasedOperationStore]
SealStatuses = Iterable[int] | Callable[[int], bool]

#: Methods that never need a key (RFC 9110 safe methods).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class StalePolicy(enum.StrEnum):
    """What a stale admission (lease expired, never sealed) gets; settings spell these as strings."""

    #: Fail closed: the outcome is unknown, answer so and never run it again.
    INDETERMINATE = "indeterminate"
    #: Take the operation over (compare-and-set) and run it again.
    REEXECUTE = "reexecute"
    #: Take over only an admission that ran in a transaction: it provably left no effect.
    REEXECUTE_IF_TRANSACTIONAL = "reexecute_if_transactional"

    def takes_over(self, transactional: bool) -> bool:
        """Whether a stale admission (``transactional`` as recorded) may be run again."""
        return self is StalePolicy.REEXECUTE or (self is StalePolicy.REEXECUTE_IF_TRANSACTIONAL and transactional)


#: What :func:`default_store` builds with; the app config (:mod:`op_store.apps`) installs the ORM store's.
_default_factory: StoreFactory | None = None


def set_default_store(factory: StoreFactory | None) -> None:
    """Install the factory of the store used when none is configured (None removes it).

    The runner sits below the ORM store (docs/architecture.md#layers) and never imports it; the app
    config, which may, installs ``DjangoOperationStore`` here when Django is ready.
    """
    global _default_factory
    _default_factory = factory


def default_store(scope: str) -> LeasedOperationStore:
    """The store used when none is configured: ``DjangoOperationStore(scope)`` once op_store's app is ready."""
    if _default_factory is None:
        raise ImproperlyConfigured(
            "op_store has no default store: add 'op_store' to INSTALLED_APPS, or give the view or site store=..."
        )
    return _default_factory(scope)


def _callable(name: str, value: object) -> Callable[..., Any] | None:
    return None if value is None else as_callable(value, f"exactly_once({name}=...)")


def _seal_predicate(value: object) -> Callable[[int], bool] | None:
    return None if value is None else as_seal_predicate(value, "exactly_once(seal=...)")


def _lease(value: object) -> timedelta | None:
    return None if value is None else as_duration(value, "exactly_once(lease=...)")


def _wait(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or not math.isfinite(value):
        raise ImproperlyConfigured(f"exactly_once(wait=...) must be seconds >= 0, got {value!r}")
    return float(value)


#: Where the admission is written. ``"committed"``: in its own commit before the work runs (a crash
#: mid-work leaves a record; any work is covered). ``"in_transaction"``: in the work's transaction,
#: committed with the seal (one commit per fresh request; only the work's database effects are
#: covered: a crash rolls the admission back with them, so a retry runs the work again).
ADMISSIONS = ("committed", "in_transaction")
IN_TRANSACTION = "in_transaction"


@dataclass(frozen=True, slots=True)
class Policy:
    """Everything one request's way through the runner needs to know, settings already applied."""

    required: bool
    scope: ScopeResolver
    fingerprint: Fingerprint
    seals: Callable[[int], bool]
    stale: StalePolicy
    wait: float
    lease: timedelta
    atomic: bool
    #: ``"committed"`` (default) or ``"in_transaction"``: the one-commit mode (see :data:`ADMISSIONS`).
    admission: str
    max_response_bytes: int
    stored_headers: frozenset[str]
    store: StoreFactory


@dataclass(frozen=True, slots=True)
class Options:
    """The checked options of one ``exactly_once(...)`` or ``RpcSite(...)``; None = the ``OP_STORE`` default."""

    required: bool | None = None
    scope: ScopeResolver | None = None
    fingerprint: Fingerprint | None = None
    seal: Callable[[int], bool] | None = None
    stale: StalePolicy | None = None
    wait: float | None = None
    lease: timedelta | None = None
    atomic: bool = False
    admission: str = "committed"
    store: StoreFactory | None = None

    @classmethod
    def build(
        cls,
        *,
        required: bool | None = None,
        scope: ScopeResolver | str | None = None,
        fingerprint: Fingerprint | str | None = None,
        seal: SealStatuses | str | None = None,
        stale: str | None = None,
        wait: float | timedelta | None = None,
        lease: float | timedelta | None = None,
        atomic: bool = False,
        admission: str = "committed",
        store: StoreFactory | None = None,
    ) -> Options:
        """Check every option now, so a typo fails at import time rather than on a request."""
        if required is not None and not isinstance(required, bool):
            raise ImproperlyConfigured(f"exactly_once(required=...) must be True, False or None, got {required!r}")
        if stale is not None and stale not in STALE_POLICIES:
            raise ImproperlyConfigured(f"exactly_once(stale=...) must be one of {STALE_POLICIES}, got {stale!r}")
        if not isinstance(atomic, bool):
            raise ImproperlyConfigured(f"exactly_once(atomic=...) must be True or False, got {atomic!r}")
        if admission not in ADMISSIONS:
            raise ImproperlyConfigured(f"exactly_once(admission=...) must be one of {ADMISSIONS}, got {admission!r}")
        if store is not None and not callable(store):
            raise ImproperlyConfigured("exactly_once(store=...) must be a callable(scope) -> store")
        return cls(
            required=required,
            scope=_callable("scope", scope),
            fingerprint=_callable("fingerprint", fingerprint),
            seal=_seal_predicate(seal),
            stale=None if stale is None else StalePolicy(stale),
            wait=_wait(wait),
            lease=_lease(lease),
            atomic=atomic or admission == IN_TRANSACTION,
            admission=admission,
            store=store,
        )

    def resolve(self, request: HttpRequest) -> Policy:
        """The policy for this request (a key is only ever required of unsafe methods)."""
        return self.resolve_for(unsafe=(request.method or "").upper() not in SAFE_METHODS)

    def resolve_for(self, *, unsafe: bool) -> Policy:
        """The policy for a request of this method kind: cached per options until ``OP_STORE`` changes."""
        key = (id(self), unsafe)
        cached = _resolved.get(key)
        if cached is not None and cached[0] is self:
            return cached[1]
        policy = self._resolve(unsafe)
        _resolved[key] = (self, policy)
        return policy

    def _resolve(self, unsafe: bool) -> Policy:
        s = op_store_settings
        required = s.REQUIRE_KEY if self.required is None else self.required
        return Policy(
            required=required and unsafe,
            scope=self.scope or s.SCOPE_RESOLVER,
            fingerprint=self.fingerprint or s.FINGERPRINT,
            seals=self.seal or s.SEAL_STATUSES,
            stale=self.stale or StalePolicy(s.STALE_POLICY),
            wait=s.WAIT if self.wait is None else self.wait,
            lease=self.lease or s.LEASE,
            atomic=self.atomic,
            admission=self.admission,
            max_response_bytes=s.MAX_RESPONSE_BYTES,
            stored_headers=s.STORED_HEADERS,
            store=self.store or default_store,
        )


DEFAULT_OPTIONS = Options()

#: Resolved policies by (id(options), unsafe method); the options object is kept with its policy so
#: that a recycled id never answers for another one. Cleared whenever the settings change.
_resolved: dict[tuple[int, bool], tuple[Options, Policy]] = {}


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "OP_STORE":
        _resolved.clear()


setting_changed.connect(_settings_changed, dispatch_uid="op_store.engine.policy_cache")
