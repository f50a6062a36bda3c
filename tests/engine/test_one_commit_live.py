"""The one-commit mode when the server process dies mid-view (SIGKILL): nothing is left, a retry runs once.

The server is ``tests.support.live.server`` in its own process, serving this package's one-commit
view (``tests.engine.test_one_commit``) on the test database; PostgreSQL only (two processes share it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from op_store.models import Operation
from tests.support.live.support import count, post, rows
from tests.support.stores import ON_POSTGRES

pytestmark = [
    pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL: run with OP_STORE_TEST_DB=postgres"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tests.engine.test_one_commit"),
]

ROOT = Path(__file__).resolve().parents[2]
#: The child process: the live test server, routed to the one-commit test views.
SERVE = (
    "import django; django.setup(); from django.conf import settings; "
    "settings.ROOT_URLCONF = 'tests.engine.test_one_commit'; "
    "from tests.support.live import server; server.main()"
)


def _wait_for(condition: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_server_killed_mid_view_leaves_no_row_and_a_retry_runs_once(user: Any, tmp_path: Path) -> None:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    marker = tmp_path / "running"
    path = f"/one/crash/?sleep=60&marker={urllib.parse.quote(str(marker))}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.support.live.settings",
        "OP_STORE_LIVE_DB_NAME": str(connection.settings_dict["NAME"]),
        "PYTHONPATH": str(ROOT),
    }
    with (tmp_path / "server.log").open("wb") as log:
        process = subprocess.Popen([sys.executable, "-c", SERVE], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log)
        try:
            assert process.stdout is not None
            port = int(process.stdout.readline())
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}{path}",
                data=b'{"amount": 1}',
                method="POST",
                headers={
                    "Content-Type": "application/json",
                    "Idempotency-Key": "k-1",
                    "Cookie": f"sessionid={client.cookies['sessionid'].value}",
                },
            )
            died: list[BaseException] = []

            def send() -> None:
                try:
                    urllib.request.urlopen(request, timeout=60).read()
                except (urllib.error.URLError, ConnectionError) as exc:
                    died.append(exc)

            thread = threading.Thread(target=send)
            thread.start()
            _wait_for(marker.exists)
            _wait_for(lambda: rows("crash") == 0 and count("crash") == 0)  # uncommitted: invisible
            process.send_signal(signal.SIGKILL)
            process.wait()
            thread.join()
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
    assert died, "the request should have died with the server"
    # PostgreSQL rolled the whole transaction back: the admission with the view's writes.
    _wait_for(lambda: not Operation.objects.exists())
    assert rows("crash") == 0 and count("crash") == 0
    retry = post(client, path)
    assert retry.status_code == 201 and not retry.has_header("Idempotent-Replayed")
    assert rows("crash") == 1 and count("crash") == 1
    replay = post(client, path)
    assert replay["Idempotent-Replayed"] == "true" and replay.content == retry.content
    assert rows("crash") == 1 and count("crash") == 1


def _process_post(barrier: Any, queue: Any, session: str) -> None:  # pragma: no cover - runs in a child
    """A forked child (Django set up, the test's urlconf): one request on its own connection."""
    from django.db import connections

    try:
        client = Client(raise_request_exception=False)
        client.cookies["sessionid"] = session
        Operation.objects.exists()  # connect before the start line
        barrier.wait(timeout=60)
        response = post(client, "/one/race/?sleep=0.2")
        queue.put((response.status_code, response.get("Idempotent-Replayed", "")))
    except BaseException as exc:
        queue.put((0, repr(exc)))
    finally:
        connections.close_all()


def test_32_processes_racing_on_one_key_run_the_view_once(user: Any, settings: Any) -> None:
    import multiprocessing

    from django.db import connections

    settings.OP_STORE = {"WAIT": 0}
    client = Client()
    client.force_login(user)
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(32)
    queue = ctx.Queue()
    connections.close_all()  # no child shares the parent's socket
    processes = [
        ctx.Process(target=_process_post, args=(barrier, queue, client.cookies["sessionid"].value)) for _ in range(32)
    ]
    for p in processes:
        p.start()
    results = [queue.get(timeout=120) for _ in processes]
    for p in processes:
        p.join(timeout=60)
    assert all(status in (201, 409) for status, _ in results), results
    assert sum(status == 201 and not replayed for status, replayed in results) == 1, results
    assert count("race") == 1 and rows("race") == 1
