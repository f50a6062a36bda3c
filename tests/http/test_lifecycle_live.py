"""Real HTTP on a database server: concurrent duplicates against a live server, and a server killed mid-request.

Each test here needs PostgreSQL or MySQL/MariaDB (several server threads and processes share one
test database).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from op_store.models import Operation
from op_store.testing import concurrently
from tests.support.live.support import count, rows

pytestmark = [pytest.mark.real_db, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
Reply = tuple[int, dict[str, str], bytes]


@pytest.fixture
def cookie(user: User) -> str:
    """A logged-in session, as a Cookie header for urllib."""
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def http_post(base: str, path: str, key: str, cookie: str, timeout: float = 60) -> Reply:
    request = urllib.request.Request(
        base + path,
        data=b'{"amount": 1}',
        method="POST",
        headers={"Content-Type": "application/json", "Idempotency-Key": key, "Cookie": cookie},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _code(reply: Reply) -> str:
    return str(json.loads(reply[2]).get("code", ""))


def test_twenty_concurrent_duplicates_run_once(live_server: Any, cookie: str) -> None:
    results = concurrently(20, lambda i: http_post(live_server.url, "/lc/race/race/?sleep=2", "race", cookie))
    assert count("race") == 1
    originals = [r for r in results if r[0] == 201 and "Idempotent-Replayed" not in r[1]]
    assert len(originals) == 1
    body = originals[0][2]
    others = [r for r in results if r is not originals[0]]
    assert len(others) == 19
    for status, headers, content in others:
        # In flight while the original sleeps; a straggler arriving after the seal gets the replay.
        assert (status == 409 and _code((status, headers, content)) == "in-flight") or (
            status == 201 and headers.get("Idempotent-Replayed") == "true" and content == body
        ), (status, content)
    assert sum(1 for r in others if r[0] == 409) >= 15


def test_twenty_concurrent_duplicates_with_wait_get_the_replay(live_server: Any, cookie: str) -> None:
    results = concurrently(20, lambda i: http_post(live_server.url, "/lc/waiting/race/?sleep=1", "race", cookie))
    assert count("race") == 1
    assert all(status == 201 for status, _, _ in results), [(s, c) for s, _, c in results]
    assert len({content for _, _, content in results}) == 1  # every client got the identical reply
    assert sum(1 for _, headers, _ in results if headers.get("Idempotent-Replayed") == "true") == 19


# --- a server process killed mid-request -----------------------------------------------------


@contextmanager
def server_process(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``python -m tests.support.live.server`` on this test's database; yields its URL and the process."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.support.live.settings",
        "OP_STORE_LIVE_DB_NAME": str(connection.settings_dict["NAME"]),
        "PYTHONPATH": str(ROOT),
    }
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.live.server"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.strip().isdigit():
            process.kill()
            process.wait()
            raise AssertionError(f"server did not start: {(tmp_path / 'server.log').read_text()}")
        yield f"http://127.0.0.1:{int(line)}", process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        log.close()


def _wait_for(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _kill_mid_view(tmp_path: Path, path: str, cookie: str, marker: Path) -> None:
    """Send the request to a separate server process and SIGKILL it while the view sleeps."""
    with server_process(tmp_path) as (url, process):
        errors: list[BaseException] = []

        def send() -> None:
            try:
                http_post(url, path, "crash", cookie)
            except Exception as exc:  # the connection dies with the server
                errors.append(exc)

        thread = threading.Thread(target=send)
        thread.start()
        _wait_for(marker.exists)
        process.send_signal(signal.SIGKILL)
        process.wait()
        thread.join()
    assert errors, "the request should have died with the server"


def _crash_path(view: str, marker: Path) -> str:
    return f"/lc/{view}/crash/?sleep=60&marker={urllib.parse.quote(str(marker))}"


def _after_lease() -> None:
    time.sleep(1.2)  # the views' lease is 1 s


def test_killed_server_leaves_an_indeterminate_operation(live_server: Any, cookie: str, tmp_path: Path) -> None:
    marker = tmp_path / "running"
    path = _crash_path("slow", marker)
    _kill_mid_view(tmp_path, path, cookie, marker)
    assert count("crash") == 1  # it ran (and committed its write) before dying
    assert Operation.objects.get().state == Operation.State.ADMITTED
    busy = http_post(live_server.url, path, "crash", cookie)
    assert busy[0] == 409 and _code(busy) in ("in-flight", "indeterminate")
    _after_lease()
    retry = http_post(live_server.url, path, "crash", cookie)
    assert retry[0] == 409 and _code(retry) == "indeterminate"
    assert count("crash") == 1  # fail closed: never run twice


def test_killed_server_with_reexecute_runs_at_most_twice(live_server: Any, cookie: str, tmp_path: Path) -> None:
    marker = tmp_path / "running"
    path = _crash_path("slow-reexecute", marker)
    _kill_mid_view(tmp_path, path, cookie, marker)
    assert count("crash") == 1
    _after_lease()
    retry = http_post(live_server.url, path, "crash", cookie)
    assert retry[0] == 201 and "Idempotent-Replayed" not in retry[1]
    assert count("crash") == 2  # once per owner
    replay = http_post(live_server.url, path, "crash", cookie)
    assert replay[2] == retry[2] and replay[1].get("Idempotent-Replayed") == "true"
    assert count("crash") == 2


def test_killed_transactional_view_leaves_nothing_and_reruns_once(
    live_server: Any, cookie: str, tmp_path: Path
) -> None:
    marker = tmp_path / "running"
    path = _crash_path("tx-reexecute", marker)
    _kill_mid_view(tmp_path, path, cookie, marker)
    op = Operation.objects.get()
    assert op.state == Operation.State.ADMITTED and op.transactional
    _wait_for(lambda: rows("crash") == 0 and count("crash") == 0)  # PostgreSQL rolled the view back
    _after_lease()
    retry = http_post(live_server.url, path, "crash", cookie)
    assert retry[0] == 201
    assert rows("crash") == 1 and count("crash") == 1
    replay = http_post(live_server.url, path, "crash", cookie)
    assert replay[2] == retry[2] and replay[1].get("Idempotent-Replayed") == "true"
    assert rows("crash") == 1
