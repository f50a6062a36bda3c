"""A real browser (Debian's chromium, driven by Playwright) through the admin against a live server.

Logs in, opens the operations list, filters by state, opens a sealed operation and reads its
decoded response, releases a stale admission with its button, and checks the list's layout at a
laptop's and a phone's width. Screenshots go to ``artifacts/screenshots/``; with
``OP_STORE_REFRESH_DOCS_SCREENSHOTS=1`` the README's ``docs/screenshots/admin-operation.png`` is
refreshed too (not on every run, so test runs leave the tree clean).
"""

import os
import shutil

import pytest
from django.test import override_settings

from op_store.store.orm import DjangoOperationStore
from op_store.vox import Err, Result
from tests.support.browser import ARTIFACTS, ROOT, chromium
from tests.support.display import Point, admitted, seal_http, seal_value, seed

DOCS_SCREENSHOT = ROOT / "docs" / "screenshots" / "admin-operation.png"
#: The demo's operation whose sealed reply is an ``Err``.
ERR_ID = 4040


def _demo_data():
    """Realistic rows for the screenshots: an order API behind the request lifecycle."""
    seed("alice")
    shop = DjangoOperationStore("user:42")
    for i in range(3):
        seal_value(shop, Point(i, 2 * i), Point)
    seal_value(shop, Err("out of stock"), Result[Point, str], operation_id=ERR_ID)
    admitted(shop, method="POST /orders/")
    admitted(shop, stale=True, method="POST /payments/")
    long = DjangoOperationStore("tenant-" + "x" * 120)  # the longest scopes and keys still fit the list
    long.try_admit(9, key="k" * 255, method="POST /imports/")
    body = (
        b'{"order": {"id": 1042, "status": "paid", "total": "59.90", "currency": "EUR",'
        b' "lines": [{"sku": "TEA-001", "qty": 2}, {"sku": "MUG-004", "qty": 1}]}, "receipt": null}'
    )
    headers = [("Content-Type", "application/json"), ("Location", "/orders/1042/")]
    return seal_http(shop, 201, headers, body)


@pytest.mark.django_db(transaction=True)
@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
def test_browse_operations_in_the_admin(live_server, django_user_model):
    django_user_model.objects.create_superuser("demo", "demo@example.com", "demo")
    order = _demo_data()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        _browse(browser, live_server.url, order)
    if os.environ.get("OP_STORE_REFRESH_DOCS_SCREENSHOTS"):
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ARTIFACTS / "admin-operation.png", DOCS_SCREENSHOT)


def _log_in(browser, url, width, height=900):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(f"{url}/admin/login/?next=/admin/op_store/operation/")
    page.fill("#id_username", "demo")
    page.fill("#id_password", "demo")
    page.click("input[type=submit]")
    page.wait_for_selector("#result_list")
    return page


#: The changelist's columns, as the admin names their header cells.
COLUMNS = (
    "state_column",
    "operation_id_column",
    "scope_column",
    "key_column",
    "method",
    "reply_column",
    "created_column",
)


def _no_sideways_scroll(page):
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]"
    )


def _browse(browser, url, order):
    page = _log_in(browser, url, 1400)
    assert "operation to view" in page.title()  # read-only by default
    assert page.locator("#ops-overview svg rect.ops-bar").count() == 24
    page.screenshot(path=str(ARTIFACTS / "admin-operations.png"), full_page=True)

    page.click("#changelist-filter a[href*='state__exact=sealed']")
    page.wait_for_url("**state__exact=sealed**")
    states = page.locator("#result_list td.field-state_column").all_inner_texts()
    assert states and all(s.strip() == "sealed" for s in states)
    page.screenshot(path=str(ARTIFACTS / "admin-operations-sealed.png"), full_page=True)

    page.click(f"#result_list a:has-text('{order.operation_id:016x}')")
    page.wait_for_selector(".ops-response")
    assert page.inner_text(".ops-http-status") == "HTTP 201 Created"
    body = page.inner_text(".ops-body-json")
    assert '"status": "paid"' in body and '"sku": "TEA-001"' in body
    assert page.locator(".ops-body-json .j-key").count() > 5  # syntax-coloured
    assert "/orders/1042/" in page.inner_text("table.ops-headers")
    assert "struct HttpReply" in page.inner_text(".field-schema_closure")
    page.screenshot(path=str(ARTIFACTS / "admin-operation.png"), full_page=True)

    page.click(".field-schema_closure a:has-text('') >> nth=0")
    page.wait_for_selector(".field-declaration_html")
    page.screenshot(path=str(ARTIFACTS / "admin-schema.png"), full_page=True)


@pytest.mark.django_db(transaction=True)
@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
def test_the_list_fits_a_laptop_and_a_phone(live_server, django_user_model):
    django_user_model.objects.create_superuser("demo", "demo@example.com", "demo")
    _demo_data()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        for width in (1920, 1400):
            page = _log_in(browser, live_server.url, width)
            _no_sideways_scroll(page)
            right = page.evaluate("window.innerWidth")
            for column in COLUMNS:
                box = page.locator(f"#result_list th.column-{column}").bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= right, (width, column, box)
            page.screenshot(path=str(ARTIFACTS / f"admin-operations-{width}.png"), full_page=True)
            page.close()

        page = _log_in(browser, live_server.url, 420)
        _no_sideways_scroll(page)
        card = page.locator("#ops-overview").bounding_box()
        chart = page.locator("#ops-overview svg").bounding_box()
        assert card and chart and chart["x"] + chart["width"] <= card["x"] + card["width"] <= 420
        assert page.locator("#result_list th.column-state_column").is_visible()
        page.screenshot(path=str(ARTIFACTS / "admin-operations-420.png"), full_page=True)


@pytest.mark.django_db(transaction=True)
@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
def test_err_replies_are_marked_and_a_stale_admission_is_released_with_its_button(live_server, django_user_model):
    from op_store.models import Operation

    django_user_model.objects.create_superuser("demo", "demo@example.com", "demo")
    _demo_data()
    err = Operation.objects.get(scope="user:42", operation_id=ERR_ID)
    stale = Operation.objects.get(method="POST /payments/")
    with chromium() as browser:
        page = _log_in(browser, live_server.url, 1400)
        row = page.locator(f"#result_list tr:has(a:has-text('{err.operation_id:016x}'))")
        assert row.locator("td.field-reply_column .ops-reply-err").inner_text() == "Err"
        row.locator(f"a:has-text('{err.operation_id:016x}')").click()
        page.wait_for_selector(".ops-response")
        assert page.locator(".ops-response-err .ops-err-banner").is_visible()
        page.screenshot(path=str(ARTIFACTS / "admin-operation-err.png"), full_page=True)

        page.goto(f"{live_server.url}/admin/op_store/operation/{stale.pk}/change/")
        assert "expired: the owner may be gone" in page.inner_text(".field-lease_status")
        page.screenshot(path=str(ARTIFACTS / "admin-operation-stale.png"), full_page=True)
        page.click("#ops-release input[type=submit]")
        page.wait_for_url("**/admin/op_store/operation/")
        assert "Released 1 admitted operation." in page.inner_text("ul.messagelist")
    assert not Operation.objects.filter(pk=stale.pk).exists()
