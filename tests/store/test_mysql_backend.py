"""What MySQL/MariaDB could get wrong that the portable suite would not notice: types, limits,
isolation, the sibling's session, purge batches (docs/deployment.md#mysql-and-mariadb).

Run with ``OP_STORE_TEST_DB=mysql`` (``make test-mysql``); skipped elsewhere.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections, transaction

from op_store.conf import op_store_settings
from op_store.models import Operation
from op_store.store import DjangoOperationStore, OperationState
from op_store.store.orm import admission_connections
from op_store.store.orm.dialects import MySqlDialect, dialect_for
from tests.support.stores import U32, U32_REGISTRY, FakeClock

pytestmark = [
    pytest.mark.skipif(os.environ.get("OP_STORE_TEST_DB") != "mysql", reason="run with OP_STORE_TEST_DB=mysql"),
    pytest.mark.django_db(transaction=True),
]

#: InnoDB's limit on one index's key (DYNAMIC/COMPRESSED rows, MySQL 5.7+ and MariaDB 10.2+).
INNODB_MAX_KEY_BYTES = 3072


def one(sql: str, params: list[object] | None = None, conn=None) -> tuple:
    with (conn or connection).cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchone()


def isolation_of(conn) -> str:
    """The session's isolation level (MariaDB before 11.1 names it tx_isolation, MySQL 8 transaction_isolation)."""
    modern = not conn.mysql_is_mariadb or conn.mysql_version >= (11, 1)
    name = "transaction_isolation" if modern else "tx_isolation"
    return str(one(f"SELECT @@SESSION.{name}", conn=conn)[0])


def columns() -> dict[str, tuple[str, int | None, str | None]]:
    """column -> (COLUMN_TYPE, DATETIME_PRECISION, CHARACTER_SET_NAME) of the operation table."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COLUMN_NAME, COLUMN_TYPE, DATETIME_PRECISION, CHARACTER_SET_NAME FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
            [Operation._meta.db_table],
        )
        return {name: (str(kind).lower(), precision, charset) for name, kind, precision, charset in cursor.fetchall()}


# --- dialect and isolation ---------------------------------------------------------------------------


def test_the_store_uses_the_mysql_dialect_at_read_committed():
    assert type(dialect_for(connections["default"])) is MySqlDialect
    assert isolation_of(connections["default"]) == "READ-COMMITTED"  # Django's default for MySQL, relied on


def test_the_sibling_sets_read_committed_and_a_lock_wait_timeout_whatever_the_settings_say():
    settings_dict = {**connection.settings_dict, "OPTIONS": {**connection.settings_dict["OPTIONS"]}}
    settings_dict["OPTIONS"]["isolation_level"] = "repeatable read"
    conn = type(connections["default"])(settings_dict, "rr")
    try:
        assert isolation_of(conn) == "REPEATABLE-READ"
        dialect_for(conn).on_sibling_connected(conn)
        assert isolation_of(conn) == "READ-COMMITTED"
        assert int(one("SELECT @@SESSION.innodb_lock_wait_timeout", conn=conn)[0]) == 10
    finally:
        conn.close()
    sibling = admission_connections.sibling(connections["default"])
    try:
        assert isolation_of(sibling) == "READ-COMMITTED"
    finally:
        sibling.close()


def test_repeatable_read_would_hide_a_seal_from_a_wait_inside_a_transaction():
    """Why W008 warns: the store's lookup inside a REPEATABLE READ transaction keeps its snapshot."""
    store = DjangoOperationStore(scope="rr")
    adm = store.try_admit(1)
    settings_dict = {**connection.settings_dict, "OPTIONS": {**connection.settings_dict["OPTIONS"]}}
    seen = {}
    for level in ("repeatable read", "read committed"):
        settings_dict["OPTIONS"]["isolation_level"] = level
        conn = type(connections["default"])(settings_dict, "waiter")
        try:
            conn.set_autocommit(False)
            dialect = dialect_for(conn)
            with conn.cursor() as cursor:
                cursor.execute(dialect.select_state, dialect.key("rr", 1))
                before = cursor.fetchone()[0]
                if level == "repeatable read":
                    store.seal_owned(1, adm.token, b"reply", U32, U32_REGISTRY)  # committed elsewhere
                cursor.execute(dialect.select_state, dialect.key("rr", 1))
                seen[level] = (before, cursor.fetchone()[0])
            conn.rollback()
        finally:
            conn.close()
    assert seen == {"repeatable read": ("admitted", "admitted"), "read committed": ("sealed", "sealed")}


def test_concurrent_admissions_of_one_id_inside_transactions_admit_once():
    """Read-first under READ COMMITTED: a duplicate INSERT IGNORE waits for the first commit, then
    its second SELECT sees the row (under REPEATABLE READ it would read its old snapshot)."""
    store = DjangoOperationStore(scope="race")
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def work() -> None:
        try:
            barrier.wait()
            with transaction.atomic():
                outcomes.append(store.try_admit(7).outcome.value)
        finally:
            admission_connections.close()
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["admitted"] + ["in_flight"] * 7


# --- types and limits --------------------------------------------------------------------------------


def test_column_types_the_migration_creates():
    found = columns()
    assert found["operation_id"][0] == "bigint(20)" or found["operation_id"][0] == "bigint"
    assert found["token"][0] in ("bigint(20)", "bigint")
    assert found["response"][0] == "longblob"  # Django's BinaryField: up to 4 GiB
    assert found["fingerprint"][0] == "longblob"
    for name in ("created_at", "lease_expires_at", "sealed_at", "expires_at"):
        assert found[name][:2] == ("datetime(6)", 6), name  # microseconds
    for name in ("scope", "method", "key"):
        assert found[name][0] == "varchar(255)" and found[name][2] == "utf8mb4", name


def test_indexes_the_migration_creates_fit_innodbs_key_limit():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT INDEX_NAME, NON_UNIQUE, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX), MAX(SUB_PART) "
            "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s "
            "GROUP BY INDEX_NAME, NON_UNIQUE",
            [Operation._meta.db_table],
        )
        indexes = {name: (int(non_unique), cols, sub_part) for name, non_unique, cols, sub_part in cursor.fetchall()}
    assert indexes["op_store_operation_scope_id_uniq"] == (0, "scope,operation_id", None)  # whole columns
    assert indexes["op_store_op_state_expires"] == (1, "state,expires_at", None)
    # MySQL has no partial indexes: Django creates the one on admitted leases over every row.
    assert indexes["op_store_op_admitted_lease"] == (1, "lease_expires_at", None)
    # The unique key's bytes: scope at 4 bytes a character (utf8mb4) and the 8-byte BIGINT id.
    (scope_bytes,) = one(
        "SELECT CHARACTER_OCTET_LENGTH FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
        "AND TABLE_NAME = %s AND COLUMN_NAME = 'scope'",
        [Operation._meta.db_table],
    )
    assert scope_bytes == 1020 and scope_bytes + 8 <= INNODB_MAX_KEY_BYTES


def test_u64_ids_round_trip_as_twos_complement_bigint():
    store = DjangoOperationStore(scope="u64")
    for operation_id, stored in ((0, 0), (2**63 - 1, 2**63 - 1), (2**63, -(2**63)), (2**64 - 1, -1)):
        adm = store.try_admit(operation_id)
        assert adm.admitted
        store.seal_owned(operation_id, adm.token, b"r", U32, U32_REGISTRY)
        raw = "SELECT operation_id FROM op_store_operation WHERE scope = %s AND operation_id = %s"
        assert one(raw, ["u64", stored]) == (stored,)  # the signed value is what the column holds
        assert store.lookup(operation_id) is OperationState.SEALED
        assert store.try_admit(operation_id).sealed.response == b"r"
    assert sorted(Operation.objects.filter(scope="u64").values_list("operation_id", flat=True)) == sorted(
        [0, 2**63 - 1, 2**63, 2**64 - 1]
    )


def test_longest_utf8mb4_scope_and_key_are_stored_whole():
    scope = "\U0001f600" * 255  # four bytes a character: the longest key the unique index holds
    store = DjangoOperationStore(scope=scope)
    assert store.try_admit(1, key="\U0001f4a9" * 255, method="\u00e9" * 255).admitted
    row = Operation.objects.get(operation_id=1)
    assert (row.scope, row.key, row.method) == (scope, "\U0001f4a9" * 255, "\u00e9" * 255)
    assert store.try_admit(1).in_flight


def test_datetimes_keep_their_microseconds():
    clock = FakeClock(datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC))
    store = DjangoOperationStore(scope="us", clock=clock)
    store.try_admit(1, lease=timedelta(microseconds=1))
    row = Operation.objects.get(scope="us", operation_id=1)
    assert row.created_at == datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert row.lease_expires_at == datetime(2026, 1, 2, 3, 4, 5, 123457, tzinfo=UTC)


def test_a_reply_of_max_response_bytes_that_escapes_to_twice_its_size_is_sealed_and_replayed():
    size = op_store_settings.MAX_RESPONSE_BYTES
    packet = int(one("SELECT @@max_allowed_packet")[0])
    assert packet >= 2 * size  # W009's condition holds on the test server
    reply = b"\0'\\" * (size // 3) + b"\0" * (size % 3)  # every byte escaped by the driver
    store = DjangoOperationStore(scope="big")
    adm = store.try_admit(1)
    store.seal_owned(1, adm.token, reply, U32, U32_REGISTRY)
    assert store.get_sealed(1).response == reply
    assert store.try_admit(1).sealed.response == reply
    assert store.seal(2, reply, U32, U32_REGISTRY) is None  # a seal without admission: INSERT IGNORE
    assert store.get_sealed(2).response == reply


def test_a_seal_without_admission_does_not_overwrite_an_existing_row():
    store = DjangoOperationStore(scope="plain")
    store.seal(1, b"first", U32, U32_REGISTRY)
    store.seal(1, b"second", U32, U32_REGISTRY)
    assert store.get_sealed(1).response == b"first"


# --- purge on InnoDB ---------------------------------------------------------------------------------


def test_purge_writes_each_batch_by_primary_key():
    """Every UPDATE/DELETE of a purge names its rows by primary key, in short autocommit batches; the
    DELETE reads the primary key only, so InnoDB locks just those rows. (The expire UPDATE keeps its
    state guard; on a table this small the optimizer may read it through the state index instead.)"""
    from django.test.utils import CaptureQueriesContext

    from op_store.store.orm import purge

    store = DjangoOperationStore(scope="purge", clock=FakeClock(datetime(2020, 1, 1, tzinfo=UTC)))
    for i in range(5):
        store.seal(i, b"x", U32, U32_REGISTRY)
    later = datetime.now(UTC) + timedelta(days=3650)
    with CaptureQueriesContext(connection) as queries:
        purge(now=later, batch_size=2)
        result = purge(now=later + timedelta(days=3650), batch_size=2)
    assert result.deleted == 5 and not Operation.objects.filter(scope="purge").exists()
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith(("UPDATE", "DELETE"))]
    assert len(writes) == 6  # 3 expire batches, 3 delete batches of at most 2 rows
    for sql in writes:
        assert "`op_store_operation`.`id` IN (" in sql.split(" WHERE ", 1)[1], sql
    for sql in (w for w in writes if w.startswith("DELETE")):
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN {sql}")
            plan = cursor.fetchall()
            names = [d[0] for d in cursor.description]
        key = {row[names.index("table")]: row[names.index("key")] for row in plan}
        assert key.get("op_store_operation") == "PRIMARY", (sql, plan)
