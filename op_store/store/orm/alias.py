"""Which database the store uses, and how per-process caches tell databases apart."""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, router
from django.db.backends.base.base import BaseDatabaseWrapper

from op_store.conf import op_store_settings
from op_store.models import Operation

__all__ = ["DatabaseKey", "database_key", "store_alias"]

#: (alias, engine, host, port, database name): a cache entry of one database never serves another.
DatabaseKey = tuple[str, str, str, str, str]


def store_alias(using: str | None = None) -> str:
    """The store's database alias: ``using``, else ``OP_STORE["DATABASE"]``, else the routers'
    ``db_for_write(Operation)``, else ``"default"`` (resolved on every call, so that
    ``override_settings`` and routers apply)."""
    if using:
        return using
    configured = op_store_settings.DATABASE
    if configured:
        return str(configured)
    return router.db_for_write(Operation) or DEFAULT_DB_ALIAS


def database_key(conn: BaseDatabaseWrapper) -> DatabaseKey:
    """What identifies ``conn``'s database in the per-process caches."""
    sd = conn.settings_dict
    return (conn.alias, str(sd.get("ENGINE")), str(sd.get("HOST") or ""), str(sd.get("PORT") or ""), str(sd["NAME"]))
