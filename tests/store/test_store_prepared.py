"""Prepared statements (``OP_STORE["PREPARED_STATEMENTS"]``, ``DjangoOperationStore(prepared=...)``).

On PostgreSQL only: the store's statements are prepared on the server, once per connection, and
nothing else of the project is; Django still logs and counts them as it does the unprepared ones.
The whole store conformance suite also runs with ``prepared=True`` (``orm-postgres-prepared``).
"""

from __future__ import annotations

import itertools
import os

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings

from op_store.store import DjangoOperationStore
from tests.support.live.support import count, post
from tests.support.stores import U32, U32_REGISTRY

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    # Behind PgBouncer in transaction pooling a client has no server session of its own, so what is
    # prepared where is not observable; the fallback there is tested in test_store_hostile.py.
    pytest.mark.skipif(
        os.environ.get("OP_STORE_TEST_DB") == "pgbouncer", reason="prepared statements need a session of their own"
    ),
]

_ids = itertools.count(1)


def prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE NOT from_sql")
        return [row[0] for row in cursor.fetchall()]


def cycle(store: DjangoOperationStore) -> list[str]:
    """Admit, seal, replay and read one new operation; the SQL Django logged for it."""
    op = next(_ids)
    with CaptureQueriesContext(connection) as queries:
        admission = store.try_admit(op, fingerprint=b"f")
        assert admission.token is not None
        store.seal_owned(op, admission.token, b"\x07", U32, U32_REGISTRY)
        assert store.try_admit(op, fingerprint=b"f").sealed is not None
        assert store.get_sealed(op) is not None
    return [q["sql"] for q in queries.captured_queries]


def test_the_store_statements_are_prepared_and_nothing_else():
    # Two cycles first: the first seal of a reply type stores its schema, later seals guard on it.
    for _ in range(2):
        cycle(DjangoOperationStore("p", prepared=False))
    connection.close()  # a new connection: nothing prepared yet
    plain = cycle(DjangoOperationStore("p", prepared=False))
    assert prepared_statements() == []
    prepared = cycle(DjangoOperationStore("p", prepared=True))
    names = prepared_statements()
    assert len(names) >= 3 and all("op_store_operation" in s and "$1" in s for s in names)
    # Django logs the same statements, rendered with their values, not as $1 placeholders.
    assert [s.split()[0] for s in prepared] == [s.split()[0] for s in plain]
    assert all("$1" not in s and "'p'" in s for s in prepared if "op_store_operation" in s)
    # The project's own queries stay as Django runs them (client-side binding, never prepared).
    from django.contrib.auth.models import User

    for _ in range(10):
        User.objects.filter(username="nobody").exists()
    assert all("auth_user" not in s for s in prepared_statements())


def test_a_prepared_statement_is_reused_not_prepared_again():
    store = DjangoOperationStore("p", prepared=True)
    for _ in range(2):  # the second seal adds its schema guard (a different statement)
        cycle(store)
    before = len(prepared_statements())
    for _ in range(5):
        cycle(store)
    assert len(prepared_statements()) == before


def test_the_setting_turns_it_on_and_the_argument_wins():
    connection.close()
    with override_settings(OP_STORE={"PREPARED_STATEMENTS": True}):
        cycle(DjangoOperationStore("p", prepared=False))
        assert prepared_statements() == []
        cycle(DjangoOperationStore("p"))
        assert prepared_statements() != []


def test_a_new_connection_prepares_again():
    store = DjangoOperationStore("p", prepared=True)
    cycle(store)
    connection.close()
    cycle(store)  # psycopg's names belong to the closed connection; the new one prepares its own
    assert prepared_statements() != []


def test_inside_a_transaction_on_the_sibling_connection():
    store = DjangoOperationStore("p", prepared=True)
    op = next(_ids)
    with transaction.atomic():
        admission = store.try_admit(op, fingerprint=b"f")
        assert admission.token is not None
        store.seal_owned(op, admission.token, b"\x07", U32, U32_REGISTRY)
    assert store.get_sealed(op) is not None


def test_an_http_retry_replays_with_prepared_statements(user):
    client = Client()
    client.force_login(user)
    with override_settings(OP_STORE={"PREPARED_STATEMENTS": True}):
        first = post(client, "/lc/fn/prepared/")
        again = post(client, "/lc/fn/prepared/")
    assert first.status_code == 201 and again.status_code == 201
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    assert count("prepared") == 1
    assert prepared_statements() != []
