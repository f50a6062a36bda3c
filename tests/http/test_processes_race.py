"""Duplicates racing across processes: gunicorn with four worker processes on one PostgreSQL database.

The thread-based live tests share one process (and its schema cache, its settings, its Python
locks); here every worker is a separate interpreter with its own connections, as in production.
Sixteen copies of each request are released at once over real HTTP connections. Whatever worker
each lands on, the side effect happens exactly once per key, no request gets a 5xx, and every
duplicate gets 409 ``in-flight`` or the original's reply replayed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from op_store.models import Operation
from tests.support.live.support import count
from tests.support.processes import Reply, Server, gunicorn, race, request
from tests.testapp.models import Counter, Row

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WORKERS = 4
RACERS = 16


@pytest.fixture(scope="module")
def server(django_db_setup: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One gunicorn for the module, on the test database pytest-django created."""
    with gunicorn(str(connection.settings_dict["NAME"]), tmp_path_factory.mktemp("gunicorn"), workers=WORKERS) as s:
        yield s


@pytest.fixture
def cookie() -> str:
    """A committed login session, which every worker process can read."""
    client = Client()
    client.force_login(User.objects.create(username="racer"))
    return f"sessionid={client.cookies['sessionid'].value}"


def _is_replay_of(reply: Reply, original: Reply) -> bool:
    status, headers, body = reply
    return status == original[0] and headers.get("Idempotent-Replayed") == "true" and body == original[2]


def _is_in_flight(reply: Reply) -> bool:
    status, headers, body = reply
    return status == 409 and json.loads(body)["code"] == "in-flight" and headers.get("Retry-After") == "1"


def _race_key(server: Server, name: str, cookie: str) -> list[Reply]:
    """RACERS copies of one keyed POST at once; race_view sleeps 1 s while it owns the key."""
    headers = {"Content-Type": "application/json", "Idempotency-Key": name, "Cookie": cookie}
    path = f"/lc/race/{name}/?sleep=1"  # race_view is csrf_exempt: the session cookie is enough
    return race([lambda: request(server, "POST", path, b'{"amount": 1}', headers)] * RACERS)


def test_http_duplicates_across_worker_processes_run_once(server: Server, cookie: str) -> None:
    names = [f"proc-{i}" for i in range(3)]
    for name in names:
        replies = _race_key(server, name, cookie)
        assert [(s, b[:200]) for s, _, b in replies if s >= 500] == [], name
        originals = [r for r in replies if r[0] == 201 and "Idempotent-Replayed" not in r[1]]
        assert len(originals) == 1, (name, [(s, b[:120]) for s, _, b in replies])
        others = [r for r in replies if r is not originals[0]]
        odd = [
            (s, b[:200])
            for s, h, b in others
            if not (_is_in_flight((s, h, b)) or _is_replay_of((s, h, b), originals[0]))
        ]
        assert odd == [], name
        # The first wave meets the owner while it sleeps in another process: the race was real.
        assert any(_is_in_flight(r) for r in others), name
        assert count(name) == 1, name  # the side effect: one increment, whichever worker ran it
    assert Operation.objects.filter(state=Operation.State.SEALED).count() == len(names)
    served = server.served_by("/lc/race/")
    assert sum(served.values()) == RACERS * len(names)
    assert len(served) >= 2, f"every racer landed on one worker process: {served}"


def test_rpc_duplicates_across_worker_processes_run_once(server: Server) -> None:
    """The shared-scope site waits for the running original (``wait=10``): every duplicate gets its reply."""
    ids = {f"payer-{i}": 0xC0FFEE00 + i for i in range(2)}
    calls = [
        lambda payer=payer, op=op: request(
            server,
            "POST",
            "/rpc-shared/bank/transfer",
            json.dumps([payer, "payee", 5]).encode(),
            {"Content-Type": "application/json", "Vox-Operation-Id": str(op)},
        )
        for payer, op in ids.items()
        for _ in range(RACERS)
    ]
    replies = race(calls)

    assert [status for status, _, _ in replies if status != 200] == []
    for i, payer in enumerate(ids):
        mine = replies[i * RACERS : (i + 1) * RACERS]
        originals = [r for r in mine if "Idempotent-Replayed" not in r[1]]
        assert len(originals) == 1, payer
        assert all(_is_replay_of(r, originals[0]) for r in mine if r is not originals[0]), payer
        assert Row.objects.filter(key=f"transfer:{payer}->payee").count() == 1, payer
    assert count("transfer") == len(ids)
    assert len(server.served_by("/rpc-shared/")) >= 2


def test_every_worker_reads_what_the_test_committed(server: Server) -> None:
    """What the races above rely on: the workers use this test's database, and see its committed rows."""
    Counter.objects.create(name="committed-by-the-test", value=7)
    states = [request(server, "GET", "/lc/state/") for _ in range(2 * WORKERS)]
    assert all(status == 200 for status, _, _ in states)
    assert {json.loads(body)["counters"].get("committed-by-the-test") for _, _, body in states} == {7}
