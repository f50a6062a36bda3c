"""The example project served as a user runs it, for the tests that talk to it over real HTTP.

``manage.py migrate``, ``seed_demo`` and ``runserver`` run in subprocesses on a temporary SQLite file
(``OP_STORE_EXAMPLE_DB``), so a test needs no Django database of its own and leaves the example's
``db.sqlite3`` alone.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "example_project"
STARTUP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def example_env(workdir: Path) -> dict[str, str]:
    """The environment of the example's processes: its own settings and a database file in ``workdir``."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "example.settings",  # pytest-django exported tests.settings
        "OP_STORE_EXAMPLE_DB": str(workdir / "example.sqlite3"),
        "PYTHONUNBUFFERED": "1",
    }


def manage(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"


def _wait_until_up(server: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"runserver exited with {server.returncode}:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{url}/admin/login/", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    pytest.fail(f"runserver did not answer within {STARTUP_TIMEOUT} s:\n{log.read_text(errors='replace')}")


@contextmanager
def runserver(workdir: Path) -> Iterator[str]:
    """Serve the example's database in ``workdir`` (already migrated) with runserver; yields its base URL."""
    env = example_env(workdir)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = workdir / "runserver.log"
    with log.open("ab") as out:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=EXAMPLE,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_up(server, url, log)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)


@contextmanager
def seeded_example(workdir: Path) -> Iterator[str]:
    """What ``make example`` does, on a database file in ``workdir``: migrate, seed_demo, runserver."""
    env = example_env(workdir)
    manage(env, "migrate", "--noinput")
    manage(env, "seed_demo")
    with runserver(workdir) as url:
        yield url
