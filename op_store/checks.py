"""System checks (ids ``op_store.E0xx`` for errors, ``op_store.W0xx`` for warnings).

- ``op_store.E001`` the ``OP_STORE`` setting is invalid (unknown key, wrong type...).
- ``op_store.E002`` the store's database alias (``OP_STORE["DATABASE"]`` or the routers' answer) is
  not in ``DATABASES``.
- ``op_store.E003`` an import string (``SCOPE_RESOLVER``, ``FINGERPRINT``) cannot be imported.
- ``op_store.W001`` admissions cannot commit apart from the request transaction: SQLite with a
  private in-memory database under ``ATOMIC_REQUESTS`` (another connection would see another,
  empty database).
- ``op_store.W002`` the same, for SQLite with ``transaction_mode`` IMMEDIATE or EXCLUSIVE under
  ``ATOMIC_REQUESTS`` (the request holds the write lock from BEGIN).
- ``op_store.W003`` (database check) the same, for an SQLite file that is not in WAL mode.
- ``op_store.W004`` the routers do not allow op_store's tables on the store's database.
- ``op_store.W005`` ``PREPARED_STATEMENTS`` is on but the store's database cannot prepare (only
  PostgreSQL through psycopg 3 can): it has no effect.
- ``op_store.W006`` ``STALE_POLICY`` is ``"reexecute"`` for every view: a handler that committed its
  effects and then crashed, or outlived its lease, runs a second time.
- ``op_store.W007`` (database check) op_store's database is an SQLite file not in WAL mode (without
  ``ATOMIC_REQUESTS``; with it, W003): a transaction elsewhere makes admissions 503 database-busy.
- ``op_store.W008`` the store's database is MySQL/MariaDB at an isolation level other than READ
  COMMITTED (``OPTIONS["isolation_level"]``): a read inside a transaction would not see what other
  connections committed since its snapshot (docs/deployment.md#mysql-and-mariadb).
- ``op_store.W009`` (database check) MySQL/MariaDB's ``max_allowed_packet`` is too small for a seal
  of a ``MAX_RESPONSE_BYTES`` reply.
- ``op_store.W010`` ``ADMISSION_FUNCTION`` is on but the store's database is not PostgreSQL: it has
  no effect.
- ``op_store.W011`` (database check) ``ADMISSION_FUNCTION`` is on but the store's PostgreSQL database
  has no ``op_store_admit`` (migration 0003 not applied, or applied in another schema).
- ``op_store.W040`` ``ExactlyOnceMiddleware`` is not after ``AuthenticationMiddleware``; the default
  scope resolver then sees every request as anonymous (keys are refused or kept per session, not per user).
- ``op_store.W041`` a middleware with ``process_view`` comes after ``ExactlyOnceMiddleware``; for
  keyed requests that ``process_view`` never runs (the middleware calls the view itself), which for
  ``CsrfViewMiddleware`` means no CSRF check.

Where W001-W003 apply the store admits inside the request transaction instead (see
docs/architecture.md#sqlite-fallbacks): exactly once still holds, but duplicates wait rather than
see the operation in flight. The checks ask the store's own rules (its alias, its dialect's isolation).
Each check's message, hint and fix: docs/checks.md.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from ._compat import sqlite_takes_init_command
from .conf import validate

_SEE = "See the OP_STORE defaults in op_store.conf.DEFAULTS."


def _validated() -> tuple[dict[str, Any] | None, list[CheckMessage]]:
    try:
        return validate(getattr(settings, "OP_STORE", {}) or {}), []
    except ImproperlyConfigured as exc:
        return None, [Error(f"Invalid OP_STORE setting: {exc}", hint=_SEE, id="op_store.E001")]


def _store_alias() -> str:
    from .store.orm.alias import store_alias

    return store_alias()


def _vendor(config: dict[str, Any]) -> str:
    from django.db.utils import load_backend

    return str(load_backend(str(config["ENGINE"])).DatabaseWrapper.vendor)


@register("op_store")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    values, errors = _validated()
    if values is None:
        return errors
    alias = _store_alias()
    if alias not in settings.DATABASES:
        how = "OP_STORE['DATABASE']" if values["DATABASE"] else "the database routers"
        errors.append(
            Error(
                f"op_store's database alias {alias!r} (from {how}) is not in DATABASES.",
                hint=f"Use one of {sorted(settings.DATABASES)}, or leave OP_STORE['DATABASE'] unset.",
                id="op_store.E002",
            )
        )
    elif values["PREPARED_STATEMENTS"]:
        from .store.orm.prepared import can_prepare

        vendor = _vendor(settings.DATABASES[alias])
        if not can_prepare(vendor):
            errors.append(
                Warning(
                    f"OP_STORE['PREPARED_STATEMENTS'] has no effect on database {alias!r} ({vendor}).",
                    hint="Only PostgreSQL through psycopg 3 prepares the store's statements; remove the setting.",
                    id="op_store.W005",
                )
            )
    if values["ADMISSION_FUNCTION"] and alias in settings.DATABASES:
        vendor = _vendor(settings.DATABASES[alias])
        if vendor != "postgresql":
            errors.append(
                Warning(
                    f"OP_STORE['ADMISSION_FUNCTION'] has no effect on database {alias!r} ({vendor}).",
                    hint="The admission function is PostgreSQL's; remove the setting.",
                    id="op_store.W010",
                )
            )
    if values["STALE_POLICY"] == "reexecute":
        errors.append(
            Warning(
                "OP_STORE['STALE_POLICY'] is 'reexecute': a handler that committed its effects and then crashed, "
                "or ran longer than LEASE, runs twice.",
                hint="Use 'reexecute_if_transactional' (only runs that provably did nothing run again) or the "
                "default 'indeterminate', and pass exactly_once(stale='reexecute') to the views that are safe to "
                "repeat.",
                id="op_store.W006",
            )
        )
    from .conf import as_callable

    for key in ("SCOPE_RESOLVER", "FINGERPRINT"):
        try:
            as_callable(values[key], f"OP_STORE[{key!r}]")
        except ImproperlyConfigured as exc:
            errors.append(Error(str(exc), hint="Give a dotted path to a callable or the callable.", id="op_store.E003"))
    return errors


def _atomic_requests(alias: str) -> dict[str, Any] | None:
    """The settings of ``alias`` when it runs under ATOMIC_REQUESTS, else None."""
    config = settings.DATABASES.get(alias) or {}
    return config if config.get("ATOMIC_REQUESTS") else None


@register("op_store")
def check_admission_isolation(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    values, _ = _validated()
    if values is None:
        return []
    alias = _store_alias()
    if alias not in settings.DATABASES:
        return []
    from .store.orm.dialects import dialect_class
    from .store.orm.outcomes import IsolationLimit

    messages: list[CheckMessage] = []
    config = _atomic_requests(alias)
    isolation = None if config is None else dialect_class(_vendor(config)).static_isolation(config)
    limit = None if isolation is None else isolation.limit
    if limit is IsolationLimit.PRIVATE_MEMORY:
        messages.append(
            Warning(
                f"Database {alias!r} is a private in-memory SQLite database under ATOMIC_REQUESTS: "
                "op_store cannot commit admissions apart from the request transaction.",
                hint="Use a file (in WAL mode) or PostgreSQL; duplicates will wait instead of seeing 409.",
                id="op_store.W001",
            )
        )
    elif limit is IsolationLimit.WRITE_LOCK_MODE:
        assert isolation is not None
        mode = isolation.detail
        messages.append(
            Warning(
                f"Database {alias!r} is SQLite with transaction_mode {mode} under ATOMIC_REQUESTS: the request "
                "holds the write lock, so op_store admits inside the request transaction.",
                hint="Drop transaction_mode (DEFERRED) for op_store's database, or turn ATOMIC_REQUESTS off.",
                id="op_store.W002",
            )
        )
    from django.db import router

    from .models import Operation

    if not router.allow_migrate_model(alias, Operation):
        messages.append(
            Warning(
                f"The database routers do not allow op_store's tables on {alias!r}, where the store writes them.",
                hint="Let allow_migrate() accept app 'op_store' on that alias, or set OP_STORE['DATABASE'].",
                id="op_store.W004",
            )
        )
    return messages


#: W003's hint: journal_mode=WAL is kept in the database file, so one PRAGMA suffices; Django 5.1+
#: can also run it on every connection.
WAL_HINT = "Use WAL: OPTIONS={'init_command': 'PRAGMA journal_mode=WAL;'} (or run the PRAGMA once)."
WAL_HINT_DJANGO42 = "Use WAL: run 'PRAGMA journal_mode=WAL;' once on the database file (it keeps the mode)."


@register(Tags.database)
def check_sqlite_journal_mode(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """W003 (under ATOMIC_REQUESTS) or W007: asked of the database each time (not the store's cached
    answer: a check must see a fix)."""
    values, _ = _validated()
    if values is None or not databases:
        return []
    alias = _store_alias()
    if alias not in databases or alias not in settings.DATABASES:
        return []
    config = _atomic_requests(alias)
    from django.db import connections

    from .store.orm.dialects import dialect_class, dialect_for
    from .store.orm.outcomes import IsolationLimit

    if (
        dialect_class(_vendor(settings.DATABASES[alias])).static_isolation(config or settings.DATABASES[alias])
        is not None
    ):
        return []  # decided by the settings alone (W001, W002) or not a question for this database
    conn = connections[alias]
    with conn.cursor() as cursor:
        isolation = dialect_for(conn).probe_isolation(cursor)
    if isolation.limit is not IsolationLimit.NOT_WAL:
        return []
    journal = isolation.detail
    hint = WAL_HINT if sqlite_takes_init_command() else WAL_HINT_DJANGO42
    if config is None:
        return [
            Warning(
                f"Database {alias!r} is an SQLite file in journal_mode {journal!r}: while an atomic view (or any "
                "transaction) holds the write lock, every other request's admission waits for it and, after the "
                "busy timeout, is answered 503 database-busy.",
                hint=hint,
                id="op_store.W007",
            )
        ]
    return [
        Warning(
            f"Database {alias!r} is an SQLite file in journal_mode {journal!r} under ATOMIC_REQUESTS: a request's "
            "reads would block a separate admission, so op_store admits inside the request transaction.",
            hint=hint,
            id="op_store.W003",
        )
    ]


@register(Tags.database)
def check_admission_function(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """W011: ``ADMISSION_FUNCTION`` is on, and the function is not on the store's PostgreSQL database
    (asked of the server, so only when the checks run with ``databases``)."""
    values, _ = _validated()
    if values is None or not values["ADMISSION_FUNCTION"] or not databases:
        return []
    alias = _store_alias()
    if alias not in databases or alias not in settings.DATABASES or _vendor(settings.DATABASES[alias]) != "postgresql":
        return []
    from django.db import connections

    from .store.orm.dialects import ADMISSION_FUNCTION

    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_proc WHERE proname = %s AND pg_function_is_visible(oid))",
            [ADMISSION_FUNCTION],
        )
        row = cursor.fetchone()
    if row[0]:
        return []
    return [
        Warning(
            f"OP_STORE['ADMISSION_FUNCTION'] is on, but database {alias!r} has no function {ADMISSION_FUNCTION} "
            "on its search_path: op_store admits with its default statement instead (one warning per connection).",
            hint="Apply op_store's migrations (manage.py migrate op_store; 0003 creates it, which needs CREATE on "
            "the schema), or turn the setting off.",
            id="op_store.W011",
        )
    ]


# --- MySQL and MariaDB ---------------------------------------------------------------------------

#: What a seal's statement carries besides the reply: the other columns, the schema guards, the SQL.
SEAL_STATEMENT_OVERHEAD = 64 * 1024


def seal_packet_bytes(max_response_bytes: int) -> int:
    """The ``max_allowed_packet`` a seal of a ``max_response_bytes`` reply may need on MySQL.

    mysqlclient sends parameters inside the statement's text, escaped: a reply byte may become two
    (NUL, quotes, backslash, newline...), so a reply can double in size on the wire.
    """
    return 2 * max_response_bytes + SEAL_STATEMENT_OVERHEAD


@register("op_store")
def check_mysql_isolation(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    values, _ = _validated()
    if values is None:
        return []
    alias = _store_alias()
    config = settings.DATABASES.get(alias)
    if not config or _vendor(config) != "mysql":
        return []
    options = config.get("OPTIONS") or {}
    if "isolation_level" not in options:
        return []  # Django's default for MySQL: read committed
    level = options["isolation_level"]
    if isinstance(level, str) and level.lower() == "read committed":
        return []
    what = repr(level) if level else "unset (the server's default, REPEATABLE READ on InnoDB)"
    return [
        Warning(
            f"Database {alias!r} is MySQL/MariaDB with isolation_level {what}: op_store's reads inside a "
            "transaction (a wait for a duplicate's reply, a seal's check) need READ COMMITTED.",
            hint="Remove OPTIONS['isolation_level'] (Django's default is 'read committed') or set it to "
            "'read committed'.",
            id="op_store.W008",
        )
    ]


@register(Tags.database)
def check_mysql_max_allowed_packet(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """W009: asks the server, so only when the checks run with ``databases`` (as Django's own do)."""
    values, _ = _validated()
    if values is None or not databases:
        return []
    alias = _store_alias()
    if alias not in databases or alias not in settings.DATABASES or _vendor(settings.DATABASES[alias]) != "mysql":
        return []
    from django.db import connections

    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT @@max_allowed_packet")
        row = cursor.fetchone()
    packet = int(row[0])
    needed = seal_packet_bytes(values["MAX_RESPONSE_BYTES"])
    if packet >= needed:
        return []
    return [
        Warning(
            f"Database {alias!r} has max_allowed_packet = {packet} bytes: sealing a reply of MAX_RESPONSE_BYTES "
            f"({values['MAX_RESPONSE_BYTES']}) may need {needed} (escaped, a reply can double in size), and a "
            "larger statement fails.",
            hint=f"Raise max_allowed_packet on the server to at least {needed} (SET GLOBAL, and in its config "
            "file), or lower OP_STORE['MAX_RESPONSE_BYTES'].",
            id="op_store.W009",
        )
    ]


# --- where ExactlyOnceMiddleware sits in MIDDLEWARE ---------------------------------------------

MIDDLEWARE_PATH = "op_store.middleware.ExactlyOnceMiddleware"
AUTH_MIDDLEWARE_PATHS = (
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
)


def _is_ours(path: str) -> bool:
    if path == MIDDLEWARE_PATH:
        return True
    try:
        from op_store.middleware import ExactlyOnceMiddleware

        cls = import_string(path)
    except ImportError:
        return False
    return isinstance(cls, type) and issubclass(cls, ExactlyOnceMiddleware)


@register(Tags.compatibility)
def check_middleware_order(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    middleware = list(getattr(settings, "MIDDLEWARE", None) or [])
    ours = [i for i, path in enumerate(middleware) if _is_ours(path)]
    if not ours:
        return []
    position = ours[0]
    messages: list[CheckMessage] = []
    auth = [i for i, path in enumerate(middleware) if path == AUTH_MIDDLEWARE_PATHS[0]]
    if not auth or auth[0] > position:
        messages.append(
            Warning(
                "ExactlyOnceMiddleware runs before AuthenticationMiddleware (or without it).",
                hint=f"Put {MIDDLEWARE_PATH!r} after {AUTH_MIDDLEWARE_PATHS[0]!r} in MIDDLEWARE: keys are "
                "scoped by the logged-in user, which is unknown before authentication.",
                id="op_store.W040",
            )
        )
    for path in middleware[position + 1 :]:
        if _is_ours(path):
            continue
        try:
            cls = import_string(path)
        except ImportError:
            continue
        if hasattr(cls, "process_view"):
            messages.append(
                Warning(
                    f"{path} comes after ExactlyOnceMiddleware, so its process_view() does not run for "
                    "requests that carry an idempotency key.",
                    hint=f"Move {MIDDLEWARE_PATH!r} below {path!r} (ExactlyOnceMiddleware calls the view "
                    "itself for keyed requests).",
                    id="op_store.W041",
                )
            )
    return messages
