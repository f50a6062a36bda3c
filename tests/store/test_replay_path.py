"""The replay path: with ``OP_STORE["READ_FIRST"]`` a replay is one plain SELECT on every database.

PostgreSQL's admission is otherwise one INSERT .. ON CONFLICT statement for replays and fresh ids
alike; SQLite always reads first. Statement counts come from ``CaptureQueriesContext``; outcomes
must not change with the setting.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext

from op_store.conf import op_store_settings
from op_store.store import AdmissionOutcome, DjangoOperationStore
from op_store.store.orm import schema_cache
from tests.support.stores import FULL, ROOT

pytestmark = pytest.mark.django_db(transaction=True)

_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", re.IGNORECASE)


def statements(fn: Any) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        fn()
    return [q["sql"] for q in captured.captured_queries if not _CONTROL.match(q["sql"])]


@pytest.fixture
def store() -> Any:
    schema_cache.clear()
    store = DjangoOperationStore(scope="replay-path")
    store.seal(0, b"warm-up", ROOT, FULL)
    yield store
    schema_cache.clear()


@pytest.mark.parametrize("read_first", [False, True])
def test_a_replay_is_one_statement_and_only_reads_when_reading_first(
    store: Any, settings: Any, read_first: bool
) -> None:
    settings.OP_STORE = {"READ_FIRST": read_first}
    adm = store.try_admit(11, fingerprint=b"fp")
    store.seal_owned(11, adm.token, b"r" * 200, ROOT, FULL)
    replay: list[Any] = []
    sqls = statements(lambda: replay.append(store.try_admit(11, fingerprint=b"fp")))
    assert replay[0].outcome is AdmissionOutcome.SEALED and replay[0].sealed.response == b"r" * 200
    assert len(sqls) == 1
    reads_only = sqls[0].lstrip().upper().startswith("SELECT") and "INSERT" not in sqls[0].upper()
    # SQLite and MySQL admit read-first anyway (docs/architecture.md, the ORM store package).
    assert reads_only is (read_first or connection.vendor in ("sqlite", "mysql"))


def test_reading_first_costs_a_fresh_admission_one_statement_more_on_postgresql(store: Any, settings: Any) -> None:
    settings.OP_STORE = {"READ_FIRST": False}
    plain = len(statements(lambda: store.try_admit(20)))
    settings.OP_STORE = {"READ_FIRST": True}
    first = len(statements(lambda: store.try_admit(21)))
    reads_first_anyway = connection.vendor in ("sqlite", "mysql")
    assert first == plain + (0 if reads_first_anyway else 1)
    assert (plain, first) == ((2, 2) if reads_first_anyway else (1, 2))


@pytest.mark.parametrize("read_first", [False, True])
def test_outcomes_do_not_depend_on_reading_first(store: Any, settings: Any, read_first: bool) -> None:
    settings.OP_STORE = {"READ_FIRST": read_first}
    fresh = store.try_admit(30, fingerprint=b"a")
    assert fresh.outcome is AdmissionOutcome.ADMITTED
    assert store.try_admit(30, fingerprint=b"a").outcome is AdmissionOutcome.IN_FLIGHT
    assert store.try_admit(30, fingerprint=b"b").outcome is AdmissionOutcome.CONFLICT
    store.seal_owned(30, fresh.token, b"done", ROOT, FULL)
    assert store.try_admit(30, fingerprint=b"a").outcome is AdmissionOutcome.SEALED
    assert store.try_admit(30, fingerprint=b"b").outcome is AdmissionOutcome.CONFLICT


def test_read_first_must_be_a_bool(settings: Any) -> None:
    settings.OP_STORE = {"READ_FIRST": "yes"}
    with pytest.raises(ImproperlyConfigured, match="READ_FIRST"):
        op_store_settings.READ_FIRST  # noqa: B018
