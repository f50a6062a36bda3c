"""One Django configuration for every benchmark: two database aliases, ``sqlite`` and ``postgres``.

Benchmarks run each comparison on both databases in one process, so both are configured side by
side; ``default`` is the SQLite one. The SQLite database is a file (as in production, not
``:memory:``) and the PostgreSQL one is a scratch database ``op_store_bench`` created here.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_ALIASES: list[str] | None = None


def _postgres_params() -> dict[str, str]:
    return {
        "HOST": os.environ.get("OP_STORE_PG_HOST", "127.0.0.1"),
        "PORT": os.environ.get("OP_STORE_PG_PORT", "5432"),
        "USER": "postgres",
    }


def _prepare_postgres(name: str) -> bool:
    try:
        import psycopg
    except ImportError:
        return False
    p = _postgres_params()
    try:
        with psycopg.connect(
            host=p["HOST"], port=p["PORT"], user=p["USER"], dbname="postgres", autocommit=True, connect_timeout=3
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error:
        return False
    return True


def setup(*, postgres: bool = True, extra_apps: tuple[str, ...] = ()) -> list[str]:
    """Configure Django once, migrate, and return the aliases to benchmark (``sqlite``, maybe ``postgres``)."""
    global _ALIASES
    if _ALIASES is not None:
        return _ALIASES
    import django
    from django.conf import settings
    from django.core.management import call_command

    workdir = Path(tempfile.mkdtemp(prefix="op_store_bench_"))
    databases: dict[str, dict[str, object]] = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(workdir / "bench.sqlite3")},
    }
    aliases = ["sqlite"]
    if postgres and _prepare_postgres("op_store_bench"):
        databases["postgres"] = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "op_store_bench",
            **_postgres_params(),
        }
        aliases.append("postgres")
    databases["sqlite"] = databases["default"]
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
            "op_store",
            "tests.testapp",
            *extra_apps,
        ],
        MIDDLEWARE=[],
        ROOT_URLCONF="benchmarks.urls",
        OP_STORE={},
    )
    django.setup()
    for alias in ["default", *aliases[1:]]:
        call_command("migrate", database=alias, verbosity=0, run_syncdb=True)
    _ALIASES = aliases
    return aliases
