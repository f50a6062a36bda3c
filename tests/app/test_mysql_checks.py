"""The MySQL/MariaDB checks: W008 (isolation level, from the settings alone, on every run) and W009
(``max_allowed_packet``, asked of the server: MySQL runs only)."""

from __future__ import annotations

import os
import warnings

import pytest
from django.test.utils import override_settings

from op_store import checks as op_checks

# Django loads its MySQL backend for these settings, which needs the driver (`make test-mysql`
# installs it; the `test` extra does not, see the Makefile).
pytest.importorskip("MySQLdb", reason="needs mysqlclient (pip install 'op-store[mysql]')")

ON_MYSQL = os.environ.get("OP_STORE_TEST_DB") == "mysql"
MYSQL = {"ENGINE": "django.db.backends.mysql", "NAME": "unused", "HOST": "127.0.0.1"}


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Overriding setting DATABASES")
        yield


def isolation_ids(**options) -> list[str]:
    with override_settings(DATABASES={"default": {**MYSQL, "OPTIONS": options}}):
        return [m.id for m in op_checks.check_mysql_isolation()]


def test_w008_silent_at_djangos_default_and_at_read_committed():
    assert isolation_ids() == []  # Django sets READ COMMITTED when the option is absent
    assert isolation_ids(isolation_level="read committed") == []
    assert isolation_ids(isolation_level="READ COMMITTED") == []


@pytest.mark.parametrize("level", ["repeatable read", "serializable", "read uncommitted", None])
def test_w008_any_other_level(level):
    with override_settings(DATABASES={"default": {**MYSQL, "OPTIONS": {"isolation_level": level}}}):
        messages = op_checks.check_mysql_isolation()
    assert [m.id for m in messages] == ["op_store.W008"]
    assert "READ COMMITTED" in messages[0].msg and "'read committed'" in messages[0].hint
    if level is None:
        assert "REPEATABLE READ" in messages[0].msg  # the server's default, said in words


def test_w008_only_for_mysql():
    postgres = {"ENGINE": "django.db.backends.postgresql", "NAME": "unused", "OPTIONS": {"isolation_level": 3}}
    with override_settings(DATABASES={"default": postgres}):
        assert op_checks.check_mysql_isolation() == []


def test_w009_needs_databases_and_mysql():
    assert op_checks.check_mysql_max_allowed_packet() == []  # never connects without ``databases``
    with override_settings(DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}):
        assert op_checks.check_mysql_max_allowed_packet(databases=["default"]) == []


def test_seal_packet_allows_for_escaping():
    # Every byte of a reply of NULs is sent as two (\0), plus the rest of the statement.
    assert op_checks.seal_packet_bytes(1000) == 2000 + op_checks.SEAL_STATEMENT_OVERHEAD


@pytest.mark.skipif(not ON_MYSQL, reason="asks a MySQL/MariaDB server: run with OP_STORE_TEST_DB=mysql")
@pytest.mark.django_db
def test_w009_against_the_servers_max_allowed_packet():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT @@max_allowed_packet")
        packet = int(cursor.fetchone()[0])
    fits = (packet - op_checks.SEAL_STATEMENT_OVERHEAD) // 2
    with override_settings(OP_STORE={"MAX_RESPONSE_BYTES": fits}):
        assert op_checks.check_mysql_max_allowed_packet(databases=["default"]) == []
    with override_settings(OP_STORE={"MAX_RESPONSE_BYTES": fits + 1}):
        messages = op_checks.check_mysql_max_allowed_packet(databases=["default"])
    assert [m.id for m in messages] == ["op_store.W009"]
    assert f"max_allowed_packet = {packet} bytes" in messages[0].msg
    assert str(2 * (fits + 1) + op_checks.SEAL_STATEMENT_OVERHEAD) in messages[0].hint
