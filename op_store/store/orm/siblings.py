"""The sibling connection: admissions commit on their own, apart from the caller's transaction.

:class:`AdmissionConnections` owns one private connection per thread and alias (the *sibling*),
decides when an admission may use it, and closes it like Django closes its own connections. See
"Admission commits on its own" in :mod:`op_store.store.orm` for why and where it cannot hold.
"""

from __future__ import annotations

import copy
import logging
import threading
from typing import Any

from django.core.signals import request_finished, request_started
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.db.utils import load_backend

from op_store.conf import DATABASE_SETTINGS, reset_on_change

from .alias import DatabaseKey, database_key, store_alias
from .dialects import Isolation, dialect_class, dialect_for
from .transactions import in_caller_transaction, inside_ignored_block

__all__ = ["ADMISSION_ALIAS_SUFFIX", "AdmissionConnections", "admission_connections"]

logger = logging.getLogger("op_store")

#: The sibling's alias is the store's alias plus this (it is never registered in ``connections``).
ADMISSION_ALIAS_SUFFIX = "__op_store_admit"


class AdmissionConnections:
    """This process's sibling connections: one per thread and alias, created lazily.

    A sibling is a private ``DatabaseWrapper`` built from a copy of the alias's live settings, in
    autocommit mode. It is not registered in ``django.db.connections``, so Django's test machinery
    neither creates a test database for it nor forbids it (it counts as a dynamically created
    connection), and it follows the test database's name. With ``CONN_MAX_AGE = 0`` it lives until
    the end of the current request, or is closed right after use outside requests; persistent ones
    are closed when unusable or obsolete at request start and end, like Django's own.
    """

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._isolation: dict[DatabaseKey, Isolation] = {}
        self._warned: set[DatabaseKey] = set()

    # --- which connection an admission runs on ------------------------------------------------

    def acquire(self, alias: str) -> BaseDatabaseWrapper:
        """The connection an admission on ``alias`` runs on: the alias's own, or its sibling.

        Give it back with :meth:`done`.
        """
        conn = connections[alias]
        if inside_ignored_block(conn) or not in_caller_transaction(conn):
            return conn
        isolation = self.isolation_of(conn)
        if isolation.possible:
            return self.sibling(conn)
        key = database_key(conn)
        if key not in self._warned:
            self._warned.add(key)
            logger.warning(
                "op_store: admissions on database %r run inside the caller's transaction (%s); concurrent "
                "duplicates wait for it instead of seeing the operation in flight",
                alias,
                isolation.reason,
            )
        return conn

    def done(self, conn: BaseDatabaseWrapper) -> None:
        """After use of what :meth:`acquire` gave: with ``CONN_MAX_AGE = 0`` a sibling is closed
        unless a request is running on this thread (then at ``request_finished``)."""
        if not conn.alias.endswith(ADMISSION_ALIAS_SUFFIX):
            return
        if conn.settings_dict.get("CONN_MAX_AGE") == 0 and not getattr(self._local, "in_request", False):
            conn.close()

    # --- whether a sibling can work at all ---------------------------------------------------

    def isolation(self, using: str | None = None) -> Isolation:
        """Whether admissions on the store's database can commit apart from the caller's transaction."""
        return self.isolation_of(connections[store_alias(using)])

    def isolation_of(self, conn: BaseDatabaseWrapper) -> Isolation:
        key = database_key(conn)
        found = self._isolation.get(key)
        if found is not None:
            return found
        dialect = dialect_class(conn.vendor)
        found = dialect.static_isolation(conn.settings_dict)
        if found is None:
            sibling = self.sibling(conn)
            try:
                with sibling.cursor() as cursor:
                    found = dialect_for(sibling).probe_isolation(cursor)
            finally:
                self.done(sibling)
        with self._lock:
            self._isolation[key] = found
        return found

    # --- the siblings ------------------------------------------------------------------------

    def _by_alias(self) -> dict[str, BaseDatabaseWrapper]:
        found: dict[str, BaseDatabaseWrapper] = self._local.__dict__.setdefault("by_alias", {})
        return found

    def sibling(self, conn: BaseDatabaseWrapper) -> BaseDatabaseWrapper:
        """This thread's sibling of ``conn`` (created lazily)."""
        siblings = self._by_alias()
        sibling = siblings.get(conn.alias)
        if sibling is not None and database_key(sibling)[1:] != database_key(conn)[1:]:
            sibling.close()  # the alias now points elsewhere (a test database, override_settings)
            sibling = None
        if sibling is None:
            settings_dict = copy.deepcopy(conn.settings_dict)
            backend = load_backend(settings_dict["ENGINE"])
            sibling = backend.DatabaseWrapper(settings_dict, f"{conn.alias}{ADMISSION_ALIAS_SUFFIX}")
            siblings[conn.alias] = sibling
        return sibling

    def close(self) -> None:
        """Close this thread's siblings (threads that admitted should call it at exit)."""
        siblings = self._by_alias()
        for sibling in siblings.values():
            sibling.close()
        siblings.clear()

    def request_started(self) -> None:
        self._close_obsolete()
        self._local.in_request = True

    def request_finished(self) -> None:
        self._local.in_request = False
        self._close_obsolete()

    def end_request(self) -> None:
        """End a request that never finished on this thread (a WSGI response never closed) and
        close the siblings it kept open."""
        if getattr(self._local, "in_request", False):
            self._local.in_request = False
            self.close()

    def reset(self) -> None:
        """Forget what the settings decided and close this thread's siblings (settings changed)."""
        with self._lock:
            self._isolation.clear()
        self.close()

    def _close_obsolete(self) -> None:
        for sibling in self._by_alias().values():
            sibling.close_if_unusable_or_obsolete()


admission_connections = AdmissionConnections()


def _on_connection_created(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    if connection.alias.endswith(ADMISSION_ALIAS_SUFFIX):
        dialect_for(connection).on_sibling_connected(connection)


connection_created.connect(_on_connection_created, dispatch_uid="op_store.sibling_session")
request_started.connect(
    lambda **kwargs: admission_connections.request_started(), weak=False, dispatch_uid="op_store.siblings_start"
)
request_finished.connect(
    lambda **kwargs: admission_connections.request_finished(), weak=False, dispatch_uid="op_store.siblings_finish"
)
reset_on_change(*DATABASE_SETTINGS)(admission_connections.reset)
