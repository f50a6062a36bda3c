"""Several server processes on one test database: gunicorn serving the test project, and racers.

Gunicorn loads the WSGI application from here (``tests.support.processes:application()``) with
``tests.support.live.settings``: the test settings pointed at the database the parent test created, whose
name it passes in ``OP_STORE_LIVE_DB_NAME``. The parent test must commit what the workers read
(``django_db(transaction=True)``): they are other processes, on other connections.

Also here: :func:`race` sends many copies of one request at once over real connections, each on
its own thread, released together by a barrier.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

#: The access log line of one request: the serving worker's pid, the status, the path and query, when
#: it ended and how long it took (microseconds), so a failed race can be read from the log.
ACCESS_FORMAT = "%(p)s %(s)s %(U)s?%(q)s %(t)s %(D)s"


def application() -> Any:
    """The WSGI application gunicorn serves (a factory: Django is set up in the server, not the tests).

    The URLconf (and with it every view, DRF and the admin) is imported here, before gunicorn forks,
    rather than by each worker's first request: a cold worker would take a second or more to answer
    its first racer, long enough for the owner to finish and the race to be lost.
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.support.live.settings")
    from django.core.wsgi import get_wsgi_application
    from django.urls import get_resolver

    wsgi = get_wsgi_application()
    get_resolver().url_patterns  # noqa: B018  (imports the URLconf now)
    return wsgi


@dataclass(frozen=True)
class Server:
    """A running gunicorn: its base URL, its access log, and its processes."""

    host: str
    port: int
    access_log: Path
    process: subprocess.Popen[bytes]

    def served_by(self, path_prefix: str) -> dict[str, int]:
        """How many requests under ``path_prefix`` each worker process (pid) served."""
        pids: dict[str, int] = {}
        for line in self.access_log.read_text().splitlines():
            pid, _, path = [*line.split(" ", 2), "", ""][:3]
            if path.startswith(path_prefix):
                pids[pid] = pids.get(pid, 0) + 1
        return pids


@contextmanager
def gunicorn(db_name: str, workdir: Path, *, workers: int = 4, timeout: float = 60) -> Iterator[Server]:
    """Gunicorn with ``workers`` sync worker processes on the test database ``db_name``.

    Sync workers, because each handles one request at a time and accepts the next only when free:
    concurrent requests spread over the processes (a threaded worker would accept a burst alone and
    queue it for its own threads). Yields once every worker has booted and the application answers;
    stops the server (SIGTERM, then SIGKILL) on the way out, so no worker keeps a connection to the
    test database.
    """
    error_log = workdir / "gunicorn-error.log"
    access_log = workdir / "gunicorn-access.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.support.live.settings",
        "OP_STORE_LIVE_DB_NAME": db_name,
        "PYTHONPATH": str(ROOT),
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind=127.0.0.1:0",
        f"--workers={workers}",
        "--worker-class=sync",
        "--preload",  # import Django once, before forking (both cores are shared in CI)
        "--timeout=60",
        "--graceful-timeout=5",
        f"--error-logfile={error_log}",
        f"--access-logfile={access_log}",
        f"--access-logformat={ACCESS_FORMAT}",
        "--log-level=info",
        "tests.support.processes:application()",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL)
    try:
        port = _wait_for_boot(process, error_log, workers, timeout)
        server = Server("127.0.0.1", port, access_log, process)
        _wait_until_serving(server, error_log, timeout)
        yield server
    finally:
        _stop(process)


def _log(error_log: Path) -> str:
    return error_log.read_text() if error_log.exists() else ""


def _wait_for_boot(process: subprocess.Popen[bytes], error_log: Path, workers: int, timeout: float) -> int:
    """The port gunicorn bound, once it says so and has booted every worker."""
    deadline = time.monotonic() + timeout
    while True:
        text = _log(error_log)
        listening = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", text)
        if listening and text.count("Booting worker with pid") >= workers:
            return int(listening.group(1))
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited with {process.returncode}:\n{text}")
        if time.monotonic() > deadline:
            raise AssertionError(f"gunicorn did not boot {workers} workers in {timeout} s:\n{text}")
        time.sleep(0.05)


def _wait_until_serving(server: Server, error_log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if request(server, "GET", "/lc/state/")[0] == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"gunicorn does not answer:\n{_log(error_log)}")
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait()


Reply = tuple[int, dict[str, str], bytes]


def request(server: Server, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Reply:
    """One request on a fresh connection (closed after it): status, headers, body."""
    connection = http.client.HTTPConnection(server.host, server.port, timeout=60)
    try:
        connection.request(method, path, body=body or None, headers={"Connection": "close", **(headers or {})})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def race(calls: list[Callable[[], Reply]]) -> list[Reply]:
    """Run every call on its own thread, all released at once; the replies in the calls' order."""
    barrier = threading.Barrier(len(calls))
    replies: list[Reply | BaseException | None] = [None] * len(calls)

    def run(index: int, call: Callable[[], Reply]) -> None:
        barrier.wait()
        try:
            replies[index] = call()
        except BaseException as exc:  # reported below, in the test's thread
            replies[index] = exc

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failed = [reply for reply in replies if not isinstance(reply, tuple)]
    if failed:
        raise AssertionError(f"{len(failed)} racers got no reply: {failed[:3]}")
    return [reply for reply in replies if isinstance(reply, tuple)]
