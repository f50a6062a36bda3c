"""The ORM store: ``DjangoOperationStore`` and its Django internals, one concern per module.

Database alias
    ``using``, else ``OP_STORE["DATABASE"]``, else ``router.db_for_write(Operation)``, else
    ``"default"``; resolved on every call, so ``override_settings`` and routers apply. Reads
    (``lookup``, ``get_sealed``, replays) use that same alias on purpose: a lagging replica could
    miss an admission or a seal.

Statements
    The hot paths are single, hand-written SQL statements on the alias (portable SQL, values
    adapted by the model fields, results converted by the backend's converters):

    - admission (``try_admit``/``admit``). PostgreSQL, one statement whether the id is new or not:
      ``WITH ins AS (INSERT .. ON CONFLICT DO NOTHING RETURNING ..) SELECT .. FROM ins UNION ALL
      SELECT .. FROM op_store_operation WHERE ..`` (retried in the rare race where a concurrent
      insert commits between the snapshot and the conflict check). SQLite: a SELECT, and only when
      the id is new an ``INSERT .. ON CONFLICT DO NOTHING RETURNING ..`` (two statements for a fresh
      admission, one for a replay: on SQLite every INSERT attempt, even a conflicting one, takes the
      write lock and commits with an fsync, so a replay must stay a read). MySQL/MariaDB: a SELECT,
      and only when the id is new an ``INSERT IGNORE`` (READ COMMITTED, so a SELECT after an
      ignored insert sees the row; docs/deployment.md). Other backends: INSERT, then a SELECT on
      conflict.
    - ``take_over``: a compare-and-set UPDATE on (scope, id, state=admitted, token, lease < now).
    - ``seal_owned``: a conditional UPDATE (token matches, state admitted). New schemas are inserted
      with ``bulk_create(ignore_conflicts=True)`` in the same transaction, after the UPDATE.
    - ``release``: a conditional DELETE (on the sibling connection: ``FOR UPDATE SKIP LOCKED``, so
      it never waits on a row another transaction is sealing; it then reports False).

    Each vendor's statements and admission strategy are a :class:`~.dialects.Dialect`
    (:mod:`.dialects`). On PostgreSQL these statements are planned again on every execution (Django
    binds parameters on the client and turns prepared statements off); ``prepared=True`` or
    ``OP_STORE["PREPARED_STATEMENTS"]`` prepares them instead (:mod:`.prepared`).

Admission commits on its own (the sibling connection)
    An admission must be committed and visible to every other connection before the handler runs,
    even when the caller is inside ``ATOMIC_REQUESTS`` or its own ``transaction.atomic()``. When the
    alias's connection is in such a transaction, admissions (``try_admit``, ``admit``,
    ``take_over``, and on PostgreSQL ``release``/``remove``) run on a *sibling connection*
    (owned by :class:`~.siblings.AdmissionConnections`, ``admission_connections``): a
    private ``DatabaseWrapper`` built from a copy of the alias's settings (alias
    ``"<alias>__op_store_admit"``), one per thread, in autocommit mode. It is deliberately not
    registered in ``django.db.connections``: Django's test machinery then neither creates a test
    database for it nor forbids it in tests that only allow the real alias (it counts as a
    "dynamically created connection"), and the copy is taken from the live settings, so it follows
    pytest-django's test database name on SQLite (shared-cache in-memory) and PostgreSQL alike. With
    ``CONN_MAX_AGE = 0`` it lives until the end of the current request (``request_finished``), or is
    closed right after use outside requests (so it never keeps a test database from being dropped);
    with persistent connections it is closed when unusable or obsolete at request start/end, like
    Django's own. No wait of an admission is unbounded: see "Bounded waits" below. On MySQL the
    sibling also sets ``innodb_lock_wait_timeout`` and READ COMMITTED.

    Where it cannot hold, the admission runs inside the caller's transaction instead (logged once,
    and ``op_store.W001``/``W002``/``W003`` warn): SQLite with a private ``:memory:`` database (a second
    connection would open another, empty database), SQLite with ``transaction_mode`` IMMEDIATE or
    EXCLUSIVE (the request transaction holds the write lock from BEGIN, so a second connection would
    wait for it), and an SQLite file not in WAL mode (readers block the committing writer). SQLite's
    single writer still makes duplicates wait rather than run twice; they just cannot see
    ``in_flight``. On SQLite ``release``/``remove`` always use the caller's connection: after the
    handler wrote, the sibling could not get the write lock.

    A test framework whose outermost atomic blocks never commit (they roll back after each test) can
    tell the store which blocks are its own (:func:`~.transactions.ignore_atomic_blocks`): the store
    then behaves as if they were not there, and admissions roll back with the test. A caller's
    ``atomic()`` inside the test still counts for the seal.

    Caveat: the sibling is a second connection. A transaction that already updated an operation's
    row and then admits or takes over the same id again waits on itself (ended by
    ``lock_timeout`` on PostgreSQL, the busy timeout on SQLite); the request lifecycle never does
    that.

Bounded waits
    On PostgreSQL the admission and the take-over set ``lock_timeout`` inside the statement itself
    (``OP_STORE["LOCK_TIMEOUT"]``, see :class:`.dialects.PostgresDialect`), so a duplicate arriving
    while its operation is sealed in an uncommitted transaction waits at most that long; on SQLite
    the busy timeout bounds the wait for the write lock. A wait that runs out raises
    :class:`~op_store.store.StoreBusyError` (nothing written): the runner answers 409 ``in-flight``
    (PostgreSQL: the operation's own row is held) or 503 ``database-busy`` (SQLite: the database is).

Transactional seal
    ``seal``/``seal_owned`` run on the alias's own connection inside
    ``transaction.atomic(using=alias, savepoint=False)`` when there are schemas to write, so they
    join the caller's transaction: the handler's writes and its sealed reply commit together or not
    at all. When ownership is lost inside a caller's transaction the transaction is marked for
    rollback as well (``OwnershipLostError`` also propagates): the handler's writes must not commit
    when another owner is running the operation.

Schema cache
    A per-process set of schema hashes known to be stored, keyed by (alias, engine, host, port,
    database name), filled only from ``transaction.on_commit`` callbacks (a rolled-back insert never
    enters it; a callback run while a transaction is still open learns nothing),
    and cleared on ``post_migrate`` (migrate and flush), on a change of the database settings, and on
    ``op_store.models.schemas_deleted`` (sent when schemas are deleted through the ORM). A seal of
    already-known schemas issues no schema statement. The cache is only a hint that is checked for
    free: the seal's UPDATE carries ``EXISTS`` guards for the known hashes it relied on, so if the
    table was emptied behind the cache's back (a flush without signals, a restored backup) the
    UPDATE matches nothing, the store notices, clears the cache and writes the schemas. A seal
    never skips a schema that is not in the table.

Modules
    :mod:`.alias` (``store_alias``), :mod:`.dialects` (SQL and admission per vendor),
    :mod:`.siblings` (the sibling connection's owner), :mod:`.transactions` (whose transaction it
    is), :mod:`.schema_cache`, :mod:`.sealing`, :mod:`.schemas` (``DatabaseSchemaSource``),
    :mod:`.maintenance` (``purge``, ``release_stale``, ``stats``), :mod:`.prepared`, :mod:`.outcomes`
    and :mod:`.store` (``DjangoOperationStore``). Their public names are re-exported here.
"""

from __future__ import annotations

from op_store.conf import DEFAULTS

from .alias import store_alias
from .dialects import Dialect, Isolation, PostgresDialect, SqliteDialect, dialect_for, lock_timeout_text
from .outcomes import IsolationLimit, SealOutcome
from .schema_cache import SchemaCache, schema_cache
from .schemas import DatabaseSchemaSource
from .siblings import ADMISSION_ALIAS_SUFFIX, AdmissionConnections, admission_connections
from .store import DjangoOperationStore, purge, release_stale, stats
from .transactions import ignore_atomic_blocks, in_caller_transaction

#: PostgreSQL ``lock_timeout`` of the store's admissions and take-overs by default (set per
#: statement from ``OP_STORE["LOCK_TIMEOUT"]``; see :class:`PostgresDialect`).
ADMISSION_LOCK_TIMEOUT = lock_timeout_text(DEFAULTS["LOCK_TIMEOUT"])

__all__ = [
    "ADMISSION_ALIAS_SUFFIX",
    "ADMISSION_LOCK_TIMEOUT",
    "AdmissionConnections",
    "DatabaseSchemaSource",
    "Dialect",
    "DjangoOperationStore",
    "Isolation",
    "IsolationLimit",
    "PostgresDialect",
    "SchemaCache",
    "SealOutcome",
    "SqliteDialect",
    "admission_connections",
    "admission_isolation",
    "close_admission_connections",
    "dialect_for",
    "ignore_atomic_blocks",
    "in_caller_transaction",
    "purge",
    "release_stale",
    "schema_cache",
    "stats",
    "store_alias",
]


def admission_isolation(using: str | None = None) -> Isolation:
    """Whether admissions on the store's database can commit apart from the caller's transaction."""
    return admission_connections.isolation(using)


def close_admission_connections() -> None:
    """Close this thread's sibling connections (threads that admitted should call it at exit)."""
    admission_connections.close()
