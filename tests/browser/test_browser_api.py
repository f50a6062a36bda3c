"""A real browser (Debian's chromium, driven by Playwright) through the inspection API's pages.

Logs in through the admin, opens the browsable operations list, follows an operation's link to
its decoded reply, and opens the Swagger UI and Redoc pages until they have drawn the document's
operations. Every request the browser makes is recorded: none may leave 127.0.0.1 (the pages'
scripts and styles come from drf-spectacular-sidecar's static files, not a CDN; what a bundle
still asks of another host, the pages' content security policy stops in the browser), and none
may fail. Screenshots go to ``artifacts/screenshots/api-*.png``.
"""

from urllib.parse import urlsplit

import pytest
from django.test import override_settings

from op_store.store.orm import DjangoOperationStore
from tests.support.browser import ARTIFACTS, chromium
from tests.support.display import Point, seal_http, seal_value

pytest.importorskip("drf_spectacular", reason="the docs pages need drf-spectacular (api extra)")

API = "/api/op-store/"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
#: Schemes that never leave the page (inline images, generated blobs).
INLINE_SCHEMES = {"data", "blob"}
#: The document's operations, as Swagger UI lists them (method, path).
OPERATIONS = {
    ("GET", f"{API}"),
    ("GET", f"{API}operations/"),
    ("GET", f"{API}operations/{{id}}/"),
    ("DELETE", f"{API}operations/{{id}}/"),
    ("GET", f"{API}schemas/"),
    ("GET", f"{API}schemas/{{schema_hash}}/"),
    ("GET", f"{API}stats/"),
    ("POST", f"{API}purge/"),
}


class Traffic:
    """Every request of a browser context: those the page's content security policy stopped in the
    browser, and those that failed or were answered with an error."""

    def __init__(self, context):
        self.urls: list[str] = []
        self.blocked: list[str] = []
        self.failures: list[str] = []
        context.on("request", lambda request: self.urls.append(request.url))
        context.on("requestfailed", self._failed)
        context.on("response", self._answered)

    def _failed(self, request) -> None:
        if request.failure == "csp":  # refused by the browser itself: it never left the machine
            self.blocked.append(request.url)
        else:
            self.failures.append(f"{request.url} ({request.failure})")

    def _answered(self, response) -> None:
        # A browser asks for /favicon.ico by itself when a page names no icon (the admin, DRF's pages).
        if response.status >= 400 and urlsplit(response.url).path != "/favicon.ico":
            self.failures.append(f"{response.url} ({response.status})")

    def left(self) -> list[str]:
        """The requests that went to another host."""
        return [
            url
            for url in self.urls
            if urlsplit(url).scheme not in INLINE_SCHEMES
            and urlsplit(url).hostname not in LOCAL_HOSTS
            and url not in self.blocked
        ]


def _data():
    shop = DjangoOperationStore("user:42")
    for i in range(3):
        seal_value(shop, Point(i, 2 * i), Point)
    point = seal_value(shop, Point(7, -8), Point)
    body = b'{"order": {"id": 1042, "status": "paid"}}'
    seal_http(shop, 201, [("Content-Type", "application/json")], body)
    return point


@pytest.mark.django_db(transaction=True)
@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
def test_browse_the_api_and_its_docs_pages_offline(live_server, django_user_model):
    django_user_model.objects.create_superuser("demo", "demo@example.com", "demo")
    point = _data()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        traffic = Traffic(context)
        page = context.new_page()
        page.goto(f"{live_server.url}/admin/login/?next={API}operations/")
        page.fill("#id_username", "demo")
        page.fill("#id_password", "demo")
        page.click("input[type=submit]")

        page.wait_for_selector(".response-info")
        assert page.url == f"{live_server.url}{API}operations/"
        assert "Operation List" in page.inner_text(".page-header")
        shown = page.inner_text(".response-info")
        assert "HTTP 200 OK" in shown and '"results": [' in shown
        assert f'"operation_id_hex": "{point.operation_id:016x}"' in shown
        page.screenshot(path=str(ARTIFACTS / "api-operations.png"), full_page=True)

        page.click(f".response-info a[href$='{API}operations/{point.pk}/']")
        page.wait_for_url(f"**{API}operations/{point.pk}/")
        page.wait_for_selector(".response-info")
        shown = page.inner_text(".response-info")
        assert '"type": "Point"' in shown
        assert '"value": {\n            "x": 7,\n            "y": -8\n        }' in shown
        assert page.locator("button[data-target='#deleteModal']").is_visible()  # release, for staff
        page.screenshot(path=str(ARTIFACTS / "api-operation.png"), full_page=True)

        page.goto(f"{live_server.url}{API}docs/")
        page.wait_for_selector(".opblock-summary")
        blocks = page.locator(".opblock-summary")
        listed = {
            (blocks.nth(i).locator(".opblock-summary-method").inner_text(), _path(blocks.nth(i)))
            for i in range(blocks.count())
        }
        assert listed == OPERATIONS
        assert "op_store inspection API" in page.inner_text(".information-container")
        page.screenshot(path=str(ARTIFACTS / "api-swagger.png"), full_page=True)

        page.goto(f"{live_server.url}{API}redoc/")
        page.wait_for_selector("h1:has-text('op_store inspection API')")
        page.wait_for_selector("text=Release an admitted operation")
        page.screenshot(path=str(ARTIFACTS / "api-redoc.png"))
        context.close()

    assert any(url.endswith("/swagger-ui-bundle.js") for url in traffic.urls)
    assert any(url.endswith("/redoc.standalone.js") for url in traffic.urls)
    assert traffic.left() == []
    assert traffic.failures == []
    # Redoc's sidebar asks for Redocly's logo from their CDN: the page's policy stops it in the browser.
    assert all(urlsplit(url).hostname not in LOCAL_HOSTS for url in traffic.blocked)


def _path(block):
    """An operation's path as Swagger UI shows it (zero-width spaces mark where it may wrap)."""
    return block.locator(".opblock-summary-path").get_attribute("data-path") or ""
