"""The example project as a user meets it: its own server process, its seeded data, a real browser.

``manage.py migrate``, ``seed_demo`` and ``runserver`` run in subprocesses on a temporary SQLite file
(``OP_STORE_EXAMPLE_DB``), so the test needs no Django database of its own and leaves the example's
``db.sqlite3`` alone. Then Debian's chromium, driven by Playwright, logs in as demo / demo, filters the
operations by state and reads the decoded reply of a seeded payment; and urllib sends one payment
twice with the same Idempotency-Key over real HTTP. Screenshots go to
``artifacts/screenshots/example-*.png``. The browser helper (and with it the skip rules: no
Playwright or no /usr/bin/chromium skips this module) comes from test_browser_admin.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_browser_admin import ARTIFACTS, chromium

EXAMPLE = Path(__file__).resolve().parent.parent / "example_project"
STARTUP_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _manage(env: dict[str, str], *args: str) -> None:
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


@pytest.fixture
def example_server(tmp_path: Path) -> Iterator[str]:
    """The example project, migrated and seeded on a temporary SQLite file, served by runserver."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "example.settings",  # pytest-django exported tests.settings
        "OP_STORE_EXAMPLE_DB": str(tmp_path / "example.sqlite3"),
        "PYTHONUNBUFFERED": "1",
    }
    _manage(env, "migrate", "--noinput")
    _manage(env, "seed_demo")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "runserver.log"
    with log.open("wb") as out:
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


def _post_payment(url: str, key: str, payment: dict[str, object]) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(
        f"{url}/demo/payments/",
        data=json.dumps(payment).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Idempotency-Key": key},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, dict(response.headers.items()), response.read()


def test_example_project_in_a_browser_and_over_http(example_server: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _replay_over_http(example_server)
    with chromium() as browser:
        _browse(browser, example_server)


def _replay_over_http(url: str) -> None:
    payment = {"amount": 777, "currency": "EUR"}
    status, headers, body = _post_payment(url, "browser-test-order", payment)
    assert status == 201
    assert "Idempotent-Replayed" not in headers
    charged = json.loads(body)
    assert charged["amount"] == 777 and charged["currency"] == "EUR"

    status, headers, again = _post_payment(url, "browser-test-order", payment)
    assert status == 201
    assert headers.get("Idempotent-Replayed") == "true"
    assert again == body  # byte for byte: same id, same charged_at
    with urllib.request.urlopen(f"{url}/demo/payments/", timeout=10) as response:
        listed = json.loads(response.read())
    # The server process started with no payments (seed_demo charged its own, in its own process).
    assert listed["payments"] == [charged]


def _browse(browser, url: str) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{url}/admin/")
    page.wait_for_selector("#id_username")
    page.fill("#id_username", "demo")
    page.fill("#id_password", "demo")
    page.click("input[type=submit]")
    page.wait_for_selector("#content-main")
    assert "/admin/login/" not in page.url
    page.screenshot(path=str(ARTIFACTS / "example-admin-index.png"), full_page=True)

    page.click("a[href$='/admin/op_store/operation/']")
    page.wait_for_selector("#result_list")
    keys = page.locator("#result_list td.field-key_column").all_inner_texts()
    assert {"demo-order-1", "demo-order-2", "demo-order-3", "browser-test-order"} <= {k.strip() for k in keys}
    page.screenshot(path=str(ARTIFACTS / "example-operations.png"), full_page=True)

    page.click("#changelist-filter a[href*='state__exact=sealed']")
    page.wait_for_url("**state__exact=sealed**")
    states = page.locator("#result_list td.field-state_column").all_inner_texts()
    assert states and all(s.strip() == "sealed" for s in states)
    page.screenshot(path=str(ARTIFACTS / "example-operations-sealed.png"), full_page=True)

    row = page.locator("#result_list tr").filter(has=page.locator("td.field-key_column:text-is('demo-order-1')"))
    assert row.count() == 1
    row.locator("a").first.click()
    page.wait_for_selector(".ops-response")
    assert "demo-order-1" in page.inner_text("#content-main")
    assert page.inner_text(".ops-http-status") == "HTTP 201 Created"
    body = page.inner_text(".ops-body-json")
    assert '"amount": 1250' in body and '"currency": "EUR"' in body
    assert "/demo/payments/" in page.inner_text("table.ops-headers")  # the Location header
    page.screenshot(path=str(ARTIFACTS / "example-operation.png"), full_page=True)
