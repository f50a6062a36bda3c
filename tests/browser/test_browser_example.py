"""The example project as a user meets it: its own server process, its seeded data, a real browser.

``manage.py migrate``, ``seed_demo`` and ``runserver`` run in subprocesses on a temporary SQLite file
(``tests/support/example_server.py``), so the test needs no Django database of its own and leaves the
example's ``db.sqlite3`` alone. Then Debian's chromium, driven by Playwright, logs in as demo / demo,
filters the operations by state and reads the decoded reply of a seeded payment; and urllib sends
one payment twice with the same Idempotency-Key over real HTTP. Screenshots go to
``artifacts/screenshots/example-*.png``. The browser helper (and with it the skip rules: no
Playwright or no /usr/bin/chromium skips this module) comes from tests/support/browser.py.
"""

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import ARTIFACTS, chromium
from tests.support.example_server import seeded_example


@pytest.fixture
def example_server(tmp_path: Path) -> Iterator[str]:
    """The example project, migrated and seeded on a temporary SQLite file, served by runserver."""
    with seeded_example(tmp_path) as url:
        yield url


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
    # Payment rows, from the database: seed_demo's three (1250, 990, 40000), then this one, once.
    assert [p["amount"] for p in listed["payments"]] == [1250, 990, 40000, 777]
    assert listed["payments"][-1] == charged


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
