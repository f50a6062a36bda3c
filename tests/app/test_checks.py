"""op_store's system checks: each id fires where it should, with a hint, and only there."""

from __future__ import annotations

import warnings

import pytest
from django.core import checks
from django.test.utils import override_settings

from op_store import checks as op_checks


def ids(messages) -> list[str]:
    return [m.id for m in messages]


def run_all(**kwargs):
    return (
        op_checks.check_settings()
        + op_checks.check_admission_isolation()
        + op_checks.check_sqlite_journal_mode(**kwargs)
    )


def databases(**default):
    """DATABASES with a replaced "default" (override_settings warns about it; it is fine here)."""
    return {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:", **default}}


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Overriding setting DATABASES")
        yield


def test_the_test_configuration_is_clean():
    assert run_all() == []
    assert [m for m in checks.run_checks() if m.id and m.id.startswith("op_store.")] == []


def test_registered_with_django():
    with override_settings(OP_STORE={"NO_SUCH_KEY": 1}):
        found = [m for m in checks.run_checks() if m.id and m.id.startswith("op_store.")]
    assert ids(found) == ["op_store.E001"]


@pytest.mark.parametrize(
    "op_store",
    [{"NO_SUCH_KEY": 1}, {"LEASE": "soon"}, {"WAIT": -1}, {"STALE_POLICY": "maybe"}, {"DATABASE": 5}, [("LEASE", 5)]],
)
def test_e001_invalid_settings(op_store):
    with override_settings(OP_STORE=op_store):
        messages = run_all()
    assert ids(messages) == ["op_store.E001"]
    assert messages[0].hint and messages[0].level == checks.ERROR


def test_e002_unknown_alias():
    with override_settings(OP_STORE={"DATABASE": "nope"}):
        messages = op_checks.check_settings()
    assert ids(messages) == ["op_store.E002"]
    assert "'nope'" in messages[0].msg and "OP_STORE['DATABASE']" in messages[0].msg


class ToNowhere:
    def db_for_write(self, model, **hints):
        return "elsewhere"


class NoMigrate:
    def allow_migrate(self, db, app_label, **hints):
        return app_label != "op_store"


def test_e002_unknown_alias_from_a_router():
    with override_settings(DATABASE_ROUTERS=[f"{__name__}.ToNowhere"]):
        messages = op_checks.check_settings()
    assert ids(messages) == ["op_store.E002"]
    assert "routers" in messages[0].msg


def test_e003_import_strings():
    with override_settings(OP_STORE={"SCOPE_RESOLVER": "no.such.module.resolver"}):
        messages = op_checks.check_settings()
    assert ids(messages) == ["op_store.E003"]


def test_w001_private_in_memory_sqlite_under_atomic_requests():
    with override_settings(DATABASES=databases(ATOMIC_REQUESTS=True)):
        messages = op_checks.check_admission_isolation()
    assert ids(messages) == ["op_store.W001"]
    assert messages[0].level == checks.WARNING and messages[0].hint
    # not without ATOMIC_REQUESTS, nor for a shared-cache database (what test runners use)
    with override_settings(DATABASES=databases()):
        assert op_checks.check_admission_isolation() == []
    shared = "file:memorydb_default?mode=memory&cache=shared"
    with override_settings(DATABASES=databases(NAME=shared, ATOMIC_REQUESTS=True)):
        assert op_checks.check_admission_isolation() == []


def test_w002_sqlite_immediate_transactions():
    config = databases(NAME="/tmp/x.sqlite3", ATOMIC_REQUESTS=True, OPTIONS={"transaction_mode": "IMMEDIATE"})
    with override_settings(DATABASES=config):
        assert ids(op_checks.check_admission_isolation()) == ["op_store.W002"]


def test_w003_sqlite_file_not_in_wal(tmp_path, monkeypatch, django_db_blocker):
    from django.db import connections
    from django.db.backends.sqlite3.base import DatabaseWrapper

    name = str(tmp_path / "j.sqlite3")
    config = databases(NAME=name, ATOMIC_REQUESTS=True)
    conn = DatabaseWrapper({**connections["default"].settings_dict, **config["default"], "OPTIONS": {}}, "default")
    monkeypatch.setattr(connections._connections, "default", conn, raising=False)
    with override_settings(DATABASES=config), django_db_blocker.unblock():
        assert op_checks.check_sqlite_journal_mode(databases=None) == []  # only as a database check
        messages = op_checks.check_sqlite_journal_mode(databases=["default"])
        assert ids(messages) == ["op_store.W003"] and "'delete'" in messages[0].msg
        with conn.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=WAL")
        assert op_checks.check_sqlite_journal_mode(databases=["default"]) == []
    conn.close()


def test_w004_routers_keep_the_tables_away():
    with override_settings(DATABASE_ROUTERS=[f"{__name__}.NoMigrate"]):
        assert ids(op_checks.check_admission_isolation()) == ["op_store.W004"]


def test_w010_the_admission_function_where_it_cannot_apply():
    postgres = {"ENGINE": "django.db.backends.postgresql", "NAME": "unused", "HOST": "127.0.0.1"}
    with override_settings(OP_STORE={"ADMISSION_FUNCTION": True}, DATABASES=databases()):
        found = op_checks.check_settings()
        assert ids(found) == ["op_store.W010"] and found[0].hint and "sqlite" in found[0].msg
        with override_settings(DATABASES={"default": postgres}):
            assert op_checks.check_settings() == []  # the check never connects
            assert op_checks.check_admission_function() == []  # W011 asks only when given databases
    with override_settings(OP_STORE={"ADMISSION_FUNCTION": False}, DATABASES=databases()):
        assert op_checks.check_settings() == []


def test_w005_prepared_statements_where_they_cannot_apply():
    postgres = {"ENGINE": "django.db.backends.postgresql", "NAME": "unused", "HOST": "127.0.0.1"}
    with override_settings(OP_STORE={"PREPARED_STATEMENTS": True}, DATABASES=databases()):
        found = op_checks.check_settings()
        assert ids(found) == ["op_store.W005"] and found[0].hint and "sqlite" in found[0].msg
        with override_settings(DATABASES={"default": postgres}):
            assert op_checks.check_settings() == []  # the check never connects
    with override_settings(OP_STORE={"PREPARED_STATEMENTS": False}):
        assert op_checks.check_settings() == []
