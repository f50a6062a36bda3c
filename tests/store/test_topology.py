"""The test database set-ups are what they claim to be.

``OP_STORE_TEST_DB`` picks one (tests/settings.py; ``make test-pgbouncer``, ``make test-mysql``):
``pgbouncer`` must really reach PostgreSQL through PgBouncer in transaction pooling (``.ci/pgbouncer``),
``mysql`` must really run on MySQL/MariaDB with a utf8mb4 test database (``.ci/mariadb``). A run that
silently fell back to another database would prove nothing about the topology it is named after.
"""

import os
from typing import Any

import pytest
from django.db import connection, transaction

TOPOLOGY = os.environ.get("OP_STORE_TEST_DB", "sqlite")
on_pgbouncer = pytest.mark.skipif(TOPOLOGY != "pgbouncer", reason="run with OP_STORE_TEST_DB=pgbouncer")
on_mysql = pytest.mark.skipif(TOPOLOGY != "mysql", reason="run with OP_STORE_TEST_DB=mysql")


@pytest.mark.django_db
def test_the_chosen_database_is_the_one_in_use() -> None:
    vendors = {"sqlite": "sqlite", "postgres": "postgresql", "pgbouncer": "postgresql", "mysql": "mysql"}
    assert connection.vendor == vendors[TOPOLOGY]


# --- PgBouncer ---------------------------------------------------------------------------------


def _client(dbname: str) -> Any:
    """A second client connection to where Django's connection goes, in autocommit mode."""
    import psycopg

    conf = connection.settings_dict
    return psycopg.connect(host=conf["HOST"], port=conf["PORT"], user=conf["USER"], dbname=dbname, autocommit=True)


def _pid(cursor: Any) -> int:
    cursor.execute("SELECT pg_backend_pid()")
    return int(cursor.fetchone()[0])


@on_pgbouncer
@pytest.mark.django_db
def test_pgbouncer_admin_console_pools_the_test_database_in_transaction_mode() -> None:
    connection.ensure_connection()
    with _client("pgbouncer") as admin:
        config = {row[0]: row[1] for row in admin.execute("SHOW CONFIG").fetchall()}
        pooled = {row[0] for row in admin.execute("SHOW POOLS").fetchall()}
    assert config["pool_mode"] == "transaction"
    assert config["listen_port"] == str(connection.settings_dict["PORT"])
    assert connection.settings_dict["NAME"] in pooled


@on_pgbouncer
@pytest.mark.django_db
def test_pgbouncer_sits_between_django_and_postgresql() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT inet_server_port()")
        server_port = cursor.fetchone()[0]
    assert connection.connection.info.port == int(os.environ.get("OP_STORE_PGBOUNCER_PORT", "6432"))  # the pooler
    assert server_port == int(os.environ.get("OP_STORE_PG_PORT", "5432"))  # where the statement ran
    assert connection.settings_dict["DISABLE_SERVER_SIDE_CURSORS"] is True


@on_pgbouncer
@pytest.mark.django_db(transaction=True)
def test_pgbouncer_hands_a_server_connection_to_another_client_between_transactions() -> None:
    """Transaction pooling: once Django's autocommit statement ends, the server connection it ran on
    serves the next client (PgBouncer reuses the most recently released one); while Django holds a
    transaction open, the other client gets a different one."""
    name = connection.settings_dict["NAME"]
    with _client(name) as other, other.cursor() as theirs:
        with connection.cursor() as ours:
            django_pid = _pid(ours)
        assert _pid(theirs) == django_pid

        with transaction.atomic(), connection.cursor() as ours:
            pinned = _pid(ours)
            assert _pid(theirs) != pinned
            assert _pid(ours) == pinned


# --- MySQL / MariaDB ---------------------------------------------------------------------------


@on_mysql
@pytest.mark.django_db
def test_mysql_test_database_and_connection_are_utf8mb4() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT DATABASE(), @@character_set_database, @@collation_database, @@character_set_connection")
        name, charset, collation, connection_charset = cursor.fetchone()
        cursor.execute("SELECT CHAR_LENGTH(%s)", ["\N{GRINNING FACE}"])  # four bytes in UTF-8
        emoji_length = cursor.fetchone()[0]
    assert name == os.environ.get("OP_STORE_MYSQL_TEST_NAME", "test_op_store")
    assert (charset, collation, connection_charset) == ("utf8mb4", "utf8mb4_unicode_ci", "utf8mb4")
    assert emoji_length == 1
