"""The ``OP_STORE`` settings dict: documented defaults, validation, import strings, live reload.

Read settings through :data:`op_store_settings` (``op_store_settings.LEASE`` ...). Values are
validated and normalised once (durations become ``timedelta``, import strings become objects) and
re-read when a test changes ``OP_STORE`` with ``override_settings``. Unknown keys and wrong types
raise ``ImproperlyConfigured`` naming the key, so a typo never silently falls back to a default.
Every key, with its type, default and an example: docs/settings.md.

Every per-process cache derived from settings registers its reset with :func:`reset_on_change`;
one ``setting_changed`` receiver runs them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from op_store.store.base import DEFAULT_LEASE, DEFAULT_RETENTION, DEFAULT_TOMBSTONE_RETENTION

STALE_POLICIES = ("indeterminate", "reexecute", "reexecute_if_transactional")

#: Replies sealed by default: 2xx, and 4xx except the ones that say "try again" (408 409 425 429).
DEFAULT_SEAL_STATUSES = frozenset(range(200, 300)) | (frozenset(range(400, 500)) - {408, 409, 425, 429})

#: Response headers stored with a sealed HTTP reply (compared case-insensitively). Per-connection
#: headers (Set-Cookie, Date, Content-Length, hop-by-hop) are never stored, whatever this says.
DEFAULT_STORED_HEADERS = (
    "Content-Type",
    "Content-Language",
    "Content-Disposition",
    "Content-Encoding",
    "Location",
    "ETag",
    "Last-Modified",
    "Cache-Control",
    "Vary",
)

DEFAULTS: dict[str, Any] = {
    # Database alias for operations and schemas; None = ask the routers (db_for_write), then "default".
    "DATABASE": None,
    # How long an admission is owned before another request may see it as stale.
    "LEASE": DEFAULT_LEASE,
    # What a stale admission (lease expired, never sealed) gets: one of STALE_POLICIES.
    "STALE_POLICY": "indeterminate",
    # Seconds a duplicate waits for an in-flight operation before 409; 0 = answer 409 at once.
    "WAIT": 0.0,
    # Which status codes are sealed: an iterable of ints, or a callable(status) -> bool, or its path.
    "SEAL_STATUSES": DEFAULT_SEAL_STATUSES,
    # Larger reply bodies are refused with a clear error (never silently dropped).
    "MAX_RESPONSE_BYTES": 1024 * 1024,
    # How long a sealed reply is kept before purge turns it into a tombstone.
    "RETENTION": DEFAULT_RETENTION,
    # How long a tombstone (answers 410 Gone) is kept before purge deletes it.
    "TOMBSTONE_RETENTION": DEFAULT_TOMBSTONE_RETENTION,
    # Rows per transaction in op_store_purge.
    "PURGE_BATCH_SIZE": 1000,
    # callable(request) -> str: who the key belongs to (a key never replays to another scope).
    "SCOPE_RESOLVER": "op_store.lifecycle.scopes.default_scope",
    # callable(request) -> bytes: what makes two requests "the same" for one key.
    "FINGERPRINT": "op_store.lifecycle.fingerprints.default_fingerprint",
    # Whether ExactlyOnceMiddleware answers 400 to unsafe requests that carry no key.
    "REQUIRE_KEY": False,
    "STORED_HEADERS": DEFAULT_STORED_HEADERS,
    "API_PERMISSION_CLASSES": ("op_store.api.permissions.InspectionPermissions",),
    # The admin shows operations and schemas read-only unless this is False.
    "ADMIN_READ_ONLY": True,
    # PostgreSQL (psycopg 3): prepare the store's statements on the server (op_store.store.orm.prepared).
    # Off, like Django's default, because a transaction-pooling proxy may not support it.
    "PREPARED_STATEMENTS": False,
    # Read an operation's row before trying to admit it, on every database (SQLite always does):
    # a replay is then one plain SELECT, a fresh admission one statement more (docs/settings.md).
    "READ_FIRST": False,
    # PostgreSQL: admit by calling the plpgsql function op_store_admit (migration 0003) instead of
    # one CTE statement: planned once per server session, pooler-safe (docs/settings.md).
    "ADMISSION_FUNCTION": False,
    # Prometheus metrics (op_store.metrics): None = on when prometheus-client is installed; True = on
    # (prometheus-client required); False = off.
    "METRICS": None,
    # The longest a store statement waits for a lock another transaction holds (PostgreSQL
    # lock_timeout, set per statement); past it the request is answered 409 in-flight, never 500.
    "LOCK_TIMEOUT": timedelta(seconds=2),
}

#: Settings whose change can point the store at another database.
DATABASE_SETTINGS = ("DATABASES", "DATABASE_ROUTERS", "OP_STORE", "INSTALLED_APPS")


def as_duration(value: object, label: str) -> timedelta:
    """A positive duration from a ``timedelta`` or seconds; ``label`` names the option in errors."""
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        result = timedelta(seconds=value)
    else:
        raise ImproperlyConfigured(f"{label} must be a timedelta or seconds, got {value!r}")
    if result <= timedelta(0):
        raise ImproperlyConfigured(f"{label} must be positive, got {value!r}")
    return result


def _number(key: str, value: object, kind: type, minimum: float) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        raise ImproperlyConfigured(f"OP_STORE[{key!r}] must be a {kind.__name__}, got {value!r}")
    if value < minimum:
        raise ImproperlyConfigured(f"OP_STORE[{key!r}] must be >= {minimum}, got {value!r}")
    return kind(value)


def as_callable(value: object, label: str) -> Callable[..., Any]:
    """A callable, or the object an import string names; ``label`` names the option in errors."""
    if isinstance(value, str):
        try:
            value = import_string(value)
        except ImportError as exc:
            raise ImproperlyConfigured(f"{label}: cannot import {value!r}: {exc}") from exc
    if not callable(value):
        raise ImproperlyConfigured(f"{label} must be callable or an import string, got {value!r}")
    return value


def as_seal_predicate(value: object, label: str) -> Callable[[int], bool]:
    """Status codes, or a predicate (or its import string), as a predicate ``status -> bool``."""
    if isinstance(value, str) or callable(value):
        return as_callable(value, label)
    if isinstance(value, Iterable):
        statuses = frozenset(value)
        if not all(isinstance(s, int) and not isinstance(s, bool) and 100 <= s <= 599 for s in statuses):
            raise ImproperlyConfigured(f"{label} must hold HTTP status codes (100..599)")
        return statuses.__contains__
    raise ImproperlyConfigured(f"{label} must be status codes or a callable, got {value!r}")


def _strings(key: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable) or not all(isinstance(v, str) for v in value):
        raise ImproperlyConfigured(f"OP_STORE[{key!r}] must be a list of strings, got {value!r}")
    return tuple(value)


def validate(user: dict[str, Any]) -> dict[str, Any]:
    """Merge ``user`` over :data:`DEFAULTS`, check every key and normalise the values."""
    if not isinstance(user, dict):
        raise ImproperlyConfigured(f"OP_STORE must be a dict, got {type(user).__name__}")
    unknown = sorted(set(user) - set(DEFAULTS))
    if unknown:
        raise ImproperlyConfigured(f"OP_STORE has unknown keys {unknown}; known keys: {sorted(DEFAULTS)}")
    raw = {**DEFAULTS, **user}
    out: dict[str, Any] = {}
    db = raw["DATABASE"]
    if db is not None and not isinstance(db, str):
        raise ImproperlyConfigured(f"OP_STORE['DATABASE'] must be a database alias or None, got {db!r}")
    out["DATABASE"] = db
    for key in ("LEASE", "RETENTION", "TOMBSTONE_RETENTION", "LOCK_TIMEOUT"):
        out[key] = as_duration(raw[key], f"OP_STORE[{key!r}]")
    if raw["STALE_POLICY"] not in STALE_POLICIES:
        raise ImproperlyConfigured(
            f"OP_STORE['STALE_POLICY'] must be one of {STALE_POLICIES}, got {raw['STALE_POLICY']!r}"
        )
    out["STALE_POLICY"] = raw["STALE_POLICY"]
    out["WAIT"] = _number("WAIT", raw["WAIT"], float, 0)
    out["MAX_RESPONSE_BYTES"] = _number("MAX_RESPONSE_BYTES", raw["MAX_RESPONSE_BYTES"], int, 0)
    out["PURGE_BATCH_SIZE"] = _number("PURGE_BATCH_SIZE", raw["PURGE_BATCH_SIZE"], int, 1)
    out["SEAL_STATUSES"] = as_seal_predicate(raw["SEAL_STATUSES"], "OP_STORE['SEAL_STATUSES']")
    for key in ("REQUIRE_KEY", "ADMIN_READ_ONLY", "PREPARED_STATEMENTS", "READ_FIRST", "ADMISSION_FUNCTION"):
        if not isinstance(raw[key], bool):
            raise ImproperlyConfigured(f"OP_STORE[{key!r}] must be True or False, got {raw[key]!r}")
        out[key] = raw[key]
    if raw["METRICS"] is not None and not isinstance(raw["METRICS"], bool):
        raise ImproperlyConfigured(f"OP_STORE['METRICS'] must be None, True or False, got {raw['METRICS']!r}")
    out["METRICS"] = raw["METRICS"]
    out["STORED_HEADERS"] = frozenset(h.lower() for h in _strings("STORED_HEADERS", raw["STORED_HEADERS"]))
    out["API_PERMISSION_CLASSES"] = _strings("API_PERMISSION_CLASSES", raw["API_PERMISSION_CLASSES"])
    # Import strings are resolved on first use (they may import modules that need the app registry).
    out["SCOPE_RESOLVER"] = raw["SCOPE_RESOLVER"]
    out["FINGERPRINT"] = raw["FINGERPRINT"]
    return out


class OpStoreSettings:
    """Attribute access to the validated ``OP_STORE`` dict, cached until the setting changes.

    A setting read once is kept as an instance attribute, so later reads (several per request)
    are plain attribute look-ups that never reach :meth:`__getattr__`; :meth:`reload` drops them.
    """

    def __init__(self) -> None:
        self._values: dict[str, Any] | None = None
        # Orders keeping a value against a reload in another thread (first reads only, never hot).
        self._lock = threading.Lock()

    def _load(self) -> dict[str, Any]:
        values = self._values
        if values is None:
            from django.conf import settings

            values = self._values = validate(getattr(settings, "OP_STORE", {}) or {})
        return values

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        values = self._load()
        if key not in values:
            raise AttributeError(f"OP_STORE has no setting {key!r}")
        value = values[key]
        if key in ("SCOPE_RESOLVER", "FINGERPRINT") and not callable(value):
            value = values[key] = as_callable(value, f"OP_STORE[{key!r}]")
        with self._lock:
            if self._values is values:  # not reloaded meanwhile (another thread's override_settings)
                self.__dict__[key] = value
        return value

    def reload(self) -> None:
        with self._lock:
            self._values = None
            for key in [k for k in self.__dict__ if not k.startswith("_")]:
                del self.__dict__[key]


op_store_settings = OpStoreSettings()

_resets: list[tuple[frozenset[str], Callable[[], None]]] = []


def reset_on_change(*setting_names: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Register a reset to run when one of ``setting_names`` changes (``override_settings``)."""

    def register(reset: Callable[[], None]) -> Callable[[], None]:
        _resets.append((frozenset(setting_names), reset))
        return reset

    return register


def _setting_changed(*, setting: str, **kwargs: Any) -> None:
    for names, reset in list(_resets):
        if setting in names:
            reset()


reset_on_change("OP_STORE", "DATABASES", "DATABASE_ROUTERS")(op_store_settings.reload)
setting_changed.connect(_setting_changed, dispatch_uid="op_store.setting_changed")
