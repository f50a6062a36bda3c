"""One Django configuration for every benchmark: up to three database aliases, ``sqlite``,
``postgres`` and ``mysql`` (MariaDB or MySQL).

Benchmarks run each comparison on every database in one process, so they are configured side by
side; ``default`` is the SQLite one unless :func:`default_database` points it elsewhere for a while.
The SQLite database is a file in WAL mode (as in production, not ``:memory:``). The PostgreSQL and
MariaDB ones are scratch databases ``op_store_bench_<pid>`` created here (when the server answers)
and dropped when the process exits, so that two benchmark runs at once (other developers share the
machine) never drop each other's.

The alternatives the request benchmarks compare against (``django-idempotency-key``,
``drf-idempotency``, ``drf-idempotencykey``; the ``bench`` extra) are installed as apps when they
import, with a database cache (``op_store_bench_cache`` table) for the one that stores in a cache.
Some of them always use the ``default`` alias (``transaction.atomic()`` without ``using``), so the
request benchmarks run each database as ``default`` in turn (:func:`default_database`).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_ALIASES: list[str] | None = None
_PG_NAME = f"op_store_bench_{os.getpid()}"
_MYSQL_NAME = _PG_NAME  # a database on another server: the same name cannot collide

#: Scratch databases beside ``sqlite``/``postgres``/``mysql`` (alias ``<base>_<label>``): a file each on
#: SQLite, a schema each (``search_path``) in the same PostgreSQL database, a database each on MariaDB
#: (``op_store_bench_<pid>_<label>``); op_store's tables copied in by
#: :func:`scratch`. The scale suite fills them with 1k / 100k / 1M operations and compares replays
#: across them in the same rounds; ``purge`` holds the rows a purge benchmark deletes.
SCRATCH = ("1k", "100k", "1m", "purge")

#: The optional alternatives (module name -> Django app to install, or None when it has no models).
ALTERNATIVES = {
    "idempotency_key": None,
    "drf_idempotency": "drf_idempotency",
    "drf_idempotencykey": "drf_idempotencykey",
}


def available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _postgres_params() -> dict[str, str]:
    return {
        "HOST": os.environ.get("OP_STORE_PG_HOST", "127.0.0.1"),
        "PORT": os.environ.get("OP_STORE_PG_PORT", "5432"),
        "USER": "postgres",
    }


def _admin(sql: str) -> bool:
    try:
        import psycopg
    except ImportError:
        return False
    p = _postgres_params()
    try:
        with psycopg.connect(
            host=p["HOST"], port=p["PORT"], user=p["USER"], dbname="postgres", autocommit=True, connect_timeout=3
        ) as conn:
            conn.execute(sql)
    except psycopg.Error:
        return False
    return True


def _drop_postgres() -> None:
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        conn.close()
    from op_store.store.orm import close_admission_connections

    close_admission_connections()
    _admin(f'DROP DATABASE IF EXISTS "{_PG_NAME}" WITH (FORCE)')


def _mysql_params() -> dict[str, str]:
    return {
        "HOST": os.environ.get("OP_STORE_MYSQL_HOST", "127.0.0.1"),
        "PORT": os.environ.get("OP_STORE_MYSQL_PORT", "3306"),
        "USER": os.environ.get("OP_STORE_MYSQL_USER", "root"),
        "PASSWORD": os.environ.get("OP_STORE_MYSQL_PASSWORD", ""),
    }


def _mysql_admin(*sqls: str) -> bool:
    """Run ``sqls`` on the MariaDB/MySQL server; False when mysqlclient or the server is missing."""
    try:
        import MySQLdb
    except ImportError:
        return False
    p = _mysql_params()
    try:
        conn = MySQLdb.connect(
            host=p["HOST"], port=int(p["PORT"]), user=p["USER"], password=p["PASSWORD"], connect_timeout=3
        )
    except MySQLdb.Error:
        return False
    try:
        for sql in sqls:
            conn.cursor().execute(sql)
    except MySQLdb.Error:
        return False
    finally:
        conn.close()
    return True


def _mysql_databases() -> list[str]:
    return [_MYSQL_NAME, *(f"{_MYSQL_NAME}_{label}" for label in SCRATCH)]


def _drop_mysql() -> None:
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        conn.close()
    from op_store.store.orm import close_admission_connections

    close_admission_connections()
    _mysql_admin(*(f"DROP DATABASE IF EXISTS `{name}`" for name in _mysql_databases()))


def setup(*, postgres: bool = True, mysql: bool = True) -> list[str]:
    """Configure Django once, migrate, and return the aliases to benchmark (``sqlite``, maybe
    ``postgres`` and ``mysql``)."""
    global _ALIASES
    if _ALIASES is not None:
        return _ALIASES
    import django
    from django.conf import settings
    from django.core.management import call_command

    workdir = Path(tempfile.mkdtemp(prefix="op_store_bench_"))
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    databases: dict[str, dict[str, Any]] = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(workdir / "bench.sqlite3")},
    }
    aliases = ["sqlite"]
    if postgres and _admin(f'DROP DATABASE IF EXISTS "{_PG_NAME}"') and _admin(f'CREATE DATABASE "{_PG_NAME}"'):
        atexit.register(_drop_postgres)
        databases["postgres"] = {"ENGINE": "django.db.backends.postgresql", "NAME": _PG_NAME, **_postgres_params()}
        aliases.append("postgres")
    utf8mb4 = "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    if mysql and _mysql_admin(*(f"CREATE DATABASE `{name}` {utf8mb4}" for name in _mysql_databases())):
        atexit.register(_drop_mysql)
        databases["mysql"] = {
            "ENGINE": "django.db.backends.mysql",
            "NAME": _MYSQL_NAME,
            "OPTIONS": {"charset": "utf8mb4"},
            **_mysql_params(),
        }
        aliases.append("mysql")
    databases["sqlite"] = dict(databases["default"])
    for label in SCRATCH:
        databases[f"sqlite_{label}"] = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(workdir / f"{label}.sqlite3"),
        }
        if "postgres" in databases:
            databases[f"postgres_{label}"] = {
                **databases["postgres"],
                "OPTIONS": {"options": f"-c search_path=scratch_{label}"},
            }
        if "mysql" in databases:
            databases[f"mysql_{label}"] = {**databases["mysql"], "NAME": f"{_MYSQL_NAME}_{label}"}
    extra_apps = [app for module, app in ALTERNATIVES.items() if app and available(module)]
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench",
        USE_TZ=True,
        ALLOWED_HOSTS=["*"],
        DATABASES=databases,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "rest_framework",
            "op_store",
            "tests.testapp",
            *extra_apps,
        ],
        MIDDLEWARE=[],
        ROOT_URLCONF="benchmarks.urls",
        OP_STORE={},
        CACHES={
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
            # django-idempotency-key's durable choice: a database cache (on whichever DB is ``default``).
            "idempotency": {
                "BACKEND": "django.core.cache.backends.db.DatabaseCache",
                "LOCATION": "op_store_bench_cache",
                "TIMEOUT": 86400,
                "OPTIONS": {"MAX_ENTRIES": 10**9},  # never cull in a benchmark (culling is a COUNT + DELETE)
            },
        },
        IDEMPOTENCY_KEY={
            "ENCODER_CLASS": "idempotency_key.encoders.BasicKeyEncoder",
            "CONFLICT_STATUS_CODE": None,  # replay with the original status
            "STORAGE": {"CLASS": "idempotency_key.storage.CacheKeyStorage", "CACHE_NAME": "idempotency"},
        },
        IDEMPOTENCY={"BACKEND": "drf_idempotency.backends.database.DatabaseBackend"},
        REST_FRAMEWORK={"UNAUTHENTICATED_USER": None},
    )
    django.setup()
    for alias in ["sqlite", *aliases[1:]]:
        if alias == "sqlite":
            from django.db import connections

            with connections["sqlite"].cursor() as cursor:
                cursor.execute("PRAGMA journal_mode=WAL")
        call_command("migrate", database=alias, verbosity=0, run_syncdb=True)
        call_command("createcachetable", database=alias, verbosity=0)
    _ALIASES = aliases
    return aliases


@contextlib.contextmanager
def default_database(alias: str) -> Iterator[None]:
    """Make ``default`` point at ``alias``'s database for a while (for code that ignores ``using``)."""
    from django.db import connections

    original = connections.settings["default"]
    if original["NAME"] == connections.settings[alias]["NAME"]:
        yield
        return
    connections["default"].close()
    del connections["default"]
    connections.settings["default"] = connections.settings[alias]
    try:
        yield
    finally:
        connections["default"].close()
        del connections["default"]
        connections.settings["default"] = original


_TABLES = ("op_store_operation", "op_store_schema")


def scratch(base: str, label: str) -> str:
    """The alias of scratch database ``label`` beside ``base``, with op_store's (empty) tables in it."""
    from django.db import connections

    alias = f"{base}_{label}"
    conn = connections[alias]
    with conn.cursor() as cursor:
        if conn.vendor == "sqlite":
            cursor.execute("PRAGMA journal_mode=WAL")
            with connections[base].cursor() as source:
                source.execute(
                    "SELECT sql FROM sqlite_master WHERE tbl_name IN (%s, %s) AND sql IS NOT NULL ORDER BY type DESC",
                    _TABLES,
                )
                ddl = [r[0] for r in source.fetchall()]
            for table in _TABLES:
                cursor.execute(f'DROP TABLE IF EXISTS "{table}"')
            for statement in ddl:
                cursor.execute(statement)
        elif conn.vendor == "mysql":
            source = connections[base].settings_dict["NAME"]
            for table in _TABLES:
                cursor.execute(f"DROP TABLE IF EXISTS `{table}`")
                cursor.execute(f"CREATE TABLE `{table}` LIKE `{source}`.`{table}`")
        else:
            schema = f"scratch_{label}"
            cursor.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            cursor.execute(f'CREATE SCHEMA "{schema}"')
            for table in _TABLES:
                cursor.execute(f'CREATE TABLE "{schema}"."{table}" (LIKE public."{table}" INCLUDING ALL)')
    return alias
