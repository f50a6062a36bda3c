"""Which database the store uses, and how per-process caches tell databases apart.

Shared by the store, the admission connections, the schema cache and the maintenance functions, so
that they all resolve the alias (see :mod:`op_store.store.orm`) and key their caches the same way.
"""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, router
from django.db.backends.base.base import BaseDatabaseWrapper

from op_store.conf import op_store_settings
from op_store.models import Operation

#: Settings whose change can point the store at another database (per-process state is dropped).
_DATABASE_SETTINGS = ("DATABASES", "DATABASE_ROUTERS", "OP_STORE", "INSTALLED_APPS")


def store_alias(using: str | None = None) -> str:
    """The database alias of the operation store (see :mod:`op_store.store.orm`)."""
    if using:
        return using
    configured = op_store_settings.DATABASE
    if configured:
        return str(configured)
    return router.db_for_write(Operation) or DEFAULT_DB_ALIAS


def _db_key(conn: BaseDatabaseWrapper) -> tuple[str, ...]:
    sd = conn.settings_dict
    return (conn.alias, str(sd.get("ENGINE")), str(sd.get("HOST") or ""), str(sd.get("PORT") or ""), str(sd["NAME"]))
