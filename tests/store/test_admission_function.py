"""The PostgreSQL admission function (``OP_STORE["ADMISSION_FUNCTION"]``, migration 0003).

Its outcomes are the conformance and race suites' (they run through it too, ``orm-postgres-function``);
here: what the migration creates and removes, the statements a fresh admission and a replay cost,
that a replay writes nothing, and that the setting is checked and does nothing off PostgreSQL.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import DatabaseError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from op_store import checks as op_checks
from op_store.conf import op_store_settings
from op_store.models import Operation
from op_store.store import AdmissionOutcome, DjangoOperationStore
from op_store.store.orm import dialect_for
from op_store.store.orm.dialects import ADMISSION_FUNCTION, INSERT_COLUMNS, ROW_COLUMNS, admitted_row, forget_dialects
from tests.support.stores import ON_POSTGRES, PREPARES, U32, U32_REGISTRY

pytestmark = pytest.mark.django_db(transaction=True)
postgres = pytest.mark.postgres

_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", re.IGNORECASE)


def captured(fn: Any) -> tuple[list[str], int]:
    """(statements, transaction-control statements) that ``fn`` ran on the default connection."""
    with CaptureQueriesContext(connection) as queries:
        fn()
    sqls = [q["sql"] for q in queries.captured_queries]
    control = [s for s in sqls if _CONTROL.match(s)]
    return [s for s in sqls if not _CONTROL.match(s)], len(control)


def function_signature() -> tuple[list[str], list[str]] | None:
    """(parameter names, result column names) of the visible ``op_store_admit``, or None."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT proargnames, proargmodes FROM pg_proc WHERE proname = %s AND pg_function_is_visible(oid)",
            [ADMISSION_FUNCTION],
        )
        found = cursor.fetchall()
    if not found:
        return None
    assert len(found) == 1, found
    names, modes = found[0]
    return [n for n, m in zip(names, modes, strict=True) if m == "i"], [
        n for n, m in zip(names, modes, strict=True) if m == "t"
    ]


@pytest.fixture
def store() -> DjangoOperationStore:
    return DjangoOperationStore(scope="function", admission_function=True)


@postgres
def test_the_function_takes_the_insert_columns_and_returns_the_admission_row() -> None:
    # The migration's SQL is frozen; the store sends INSERT_COLUMNS and reads ROW_COLUMNS.
    assert function_signature() == (
        [*(f"p_{name}" for name in INSERT_COLUMNS), "p_lock_timeout", "p_lock_key"],
        ["inserted", *ROW_COLUMNS],
    )


@postgres
def test_the_migration_reverses_and_applies_again() -> None:
    call_command("migrate", "op_store", "0002", verbosity=0)
    try:
        assert function_signature() is None
    finally:
        call_command("migrate", "op_store", verbosity=0)
    assert function_signature() is not None
    assert DjangoOperationStore("again", admission_function=True).try_admit(1).outcome is AdmissionOutcome.ADMITTED


@postgres
def test_w011_warns_while_the_function_is_missing(settings: Any) -> None:
    settings.OP_STORE = {"ADMISSION_FUNCTION": True}
    assert op_checks.check_admission_function(databases=["default"]) == []
    call_command("migrate", "op_store", "0002", verbosity=0)
    try:
        found = op_checks.check_admission_function(databases=["default"])
        settings.OP_STORE = {"ADMISSION_FUNCTION": False}
        assert op_checks.check_admission_function(databases=["default"]) == []
    finally:
        call_command("migrate", "op_store", verbosity=0)
    assert [m.id for m in found] == ["op_store.W011"]
    assert found[0].hint and "migrate" in found[0].hint


@pytest.mark.skipif(ON_POSTGRES, reason="the migration's no-op is for the other databases")
def test_the_migration_does_nothing_on_other_databases() -> None:
    from importlib import import_module

    migration = import_module("op_store.migrations.0003_admission_function")
    with connection.schema_editor() as editor, CaptureQueriesContext(connection) as queries:
        migration.create_function(apps, editor)
        migration.drop_function(apps, editor)
    assert queries.captured_queries == []


@postgres
@pytest.mark.parametrize("read_first", [False, True], ids=["alone", "with-read-first"])
@pytest.mark.parametrize("prepared", [False, True], ids=["unprepared", "prepared"])
def test_the_statements_of_a_fresh_admission_and_a_replay(settings: Any, read_first: bool, prepared: bool) -> None:
    if prepared and not PREPARES:
        pytest.skip("prepared statements need PostgreSQL without a pooler")
    settings.OP_STORE = {"READ_FIRST": read_first, "PREPARED_STATEMENTS": prepared}
    store = DjangoOperationStore(scope="calls", admission_function=True)
    admissions: list[Any] = []
    fresh, fresh_control = captured(lambda: admissions.append(store.try_admit(7, fingerprint=b"f")))
    assert admissions[0].outcome is AdmissionOutcome.ADMITTED
    store.seal_owned(7, admissions[0].token, b"reply", U32, U32_REGISTRY)
    replay, replay_control = captured(lambda: admissions.append(store.try_admit(7, fingerprint=b"f")))
    assert admissions[1].outcome is AdmissionOutcome.SEALED and admissions[1].sealed.response == b"reply"
    assert len(replay) == 1
    if read_first:  # a plain SELECT first: a replay stops there, a fresh admission calls the function next
        assert ADMISSION_FUNCTION not in replay[0] and replay[0].lstrip().upper().startswith("SELECT")
        assert len(fresh) == 2 and ADMISSION_FUNCTION in fresh[1]
    else:
        assert len(fresh) == 1 and ADMISSION_FUNCTION in fresh[0] and ADMISSION_FUNCTION in replay[0]
    assert "INSERT" not in replay[0].upper()  # the call's INSERT is inside the function
    assert fresh_control == replay_control == 0  # autocommit: no BEGIN, no COMMIT


@postgres
def test_a_replay_writes_nothing(store: DjangoOperationStore) -> None:
    admission = store.try_admit(9)
    assert admission.token is not None
    store.seal_owned(9, admission.token, b"reply", U32, U32_REGISTRY)
    dialect = dialect_for(connections["default"])
    now = store.now()
    values = admitted_row(
        store.scope,
        9,
        method="",
        key="",
        fingerprint=None,
        token=1,
        transactional=False,
        created_at=now,
        lease_expires_at=now,
    )
    with transaction.atomic():
        # In a transaction of its own, to ask it afterwards: a row written would assign an id.
        with connection.cursor() as cursor:
            params = [dialect.prep(name, values[name]) for name in INSERT_COLUMNS]
            inserted, row = dialect.call_admission_function(cursor, params, None)
            cursor.execute("SELECT pg_current_xact_id_if_assigned()")
            assigned = cursor.fetchone()[0]
        transaction.set_rollback(True)
    assert inserted is False and row is not None and row.response == b"reply"
    assert assigned is None


@pytest.fixture
def without_function() -> Iterator[None]:
    """Migration 0003 reversed for the test (the function is gone), then applied again."""
    call_command("migrate", "op_store", "0002", verbosity=0)
    try:
        yield
    finally:
        call_command("migrate", "op_store", verbosity=0)
        forget_dialects()  # connections that found no function would keep admitting by the CTE


@postgres
def test_a_missing_function_falls_back_to_the_default_statement_with_one_warning(
    without_function: None, caplog: Any
) -> None:
    store = DjangoOperationStore(scope="missing", admission_function=True)
    with caplog.at_level(logging.WARNING, logger="op_store"):
        first = store.try_admit(1)
        sqls, _ = captured(lambda: store.try_admit(2))
        store.seal_owned(1, first.token, b"reply", U32, U32_REGISTRY)
        replay = store.try_admit(1)
    assert first.outcome is AdmissionOutcome.ADMITTED
    assert replay.outcome is AdmissionOutcome.SEALED and replay.sealed.response == b"reply"
    # Once the call failed, the connection admits by the CTE: one statement, no call.
    assert len(sqls) == 1 and ADMISSION_FUNCTION not in sqls[0] and "INSERT" in sqls[0].upper()
    warnings = [r for r in caplog.records if ADMISSION_FUNCTION in r.getMessage()]
    assert len(warnings) == 1 and "op_store.0003" in warnings[0].getMessage()


@postgres
def test_a_missing_function_fails_the_transaction_it_ran_in_and_not_the_next(without_function: None) -> None:
    store = DjangoOperationStore(scope="missing-in-transaction", admission_function=True)

    def admit() -> Any:
        with transaction.atomic():
            return store.admit_in_transaction(4, fingerprint=None, method="POST /x/", key="k")

    with pytest.raises(DatabaseError):  # the transaction is aborted: nothing to fall back in
        admit()
    assert admit().outcome is AdmissionOutcome.ADMITTED  # the next one admits by the default statements
    assert Operation.objects.filter(scope="missing-in-transaction", state=Operation.State.ADMITTED).count() == 1


@pytest.mark.skipif(ON_POSTGRES, reason="on PostgreSQL the setting does something")
def test_the_setting_does_nothing_on_other_databases(settings: Any) -> None:
    settings.OP_STORE = {"ADMISSION_FUNCTION": True}
    store = DjangoOperationStore(scope="elsewhere")
    admissions: list[Any] = []
    sqls, _ = captured(lambda: admissions.append(store.try_admit(3)))
    assert admissions[0].outcome is AdmissionOutcome.ADMITTED
    assert sqls and not any(ADMISSION_FUNCTION in sql for sql in sqls)


def test_the_setting_must_be_a_bool(settings: Any) -> None:
    settings.OP_STORE = {"ADMISSION_FUNCTION": "yes"}
    with pytest.raises(ImproperlyConfigured, match="ADMISSION_FUNCTION"):
        op_store_settings.ADMISSION_FUNCTION  # noqa: B018


def test_the_store_option_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="admission_function"):
        DjangoOperationStore(admission_function="yes")  # type: ignore[arg-type]
