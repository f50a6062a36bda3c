"""The inspection API in a browser: DRF's browsable page for ``Accept: text/html``, JSON for
everyone else, and the offline Swagger UI and Redoc pages (their HTML, access, and check W050).

The pages in a real browser, and the proof that none of them reaches another host, are in
tests/browser/test_browser_api.py.
"""

import html as html_escapes
import json
import re
from html.parser import HTMLParser

import pytest
from django.contrib.staticfiles import finders
from django.core.checks import run_checks
from django.test import override_settings
from django.urls import include, path

from tests.support.display import login_client, seed

pytest.importorskip("drf_spectacular", reason="the docs pages need drf-spectacular (api extra)")

pytestmark = pytest.mark.django_db

API = "/api/op-store/"
PROBLEM = "application/problem+json"
HTML = "text/html; charset=utf-8"
#: What Chromium sends for a page it navigates to.
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
DOCS_PAGES = (f"{API}docs/", f"{API}redoc/")

#: A urlconf for check W050 with the API mounted elsewhere (and so the docs pages with it).
urlpatterns = [path("inspect/", include("op_store.api.urls"))]


@pytest.fixture
def ops():
    return seed()


@pytest.fixture
def staff_client():
    return login_client()


@pytest.fixture
def user_client():
    return login_client(staff=False, superuser=False, username="someone")


def _browse(client, url, **extra):
    return client.get(url, HTTP_ACCEPT=BROWSER_ACCEPT, **extra)


def _shown(page):
    """The response a browsable page shows: (its header lines, its body as text)."""
    match = re.search(r'class="response-info"[^>]*>\s*<pre class="prettyprint">(.*?)</pre>', page, re.DOTALL)
    assert match, "no response on the page"
    text = html_escapes.unescape(re.sub(r"<[^>]+>", "", match.group(1)))
    headers, _, body = text.partition("\n\n")
    return headers.splitlines(), body


# --- the browsable page -------------------------------------------------------------------------------


def test_a_browser_gets_the_browsable_page_of_every_endpoint(staff_client, ops):
    struct = ops["struct"]
    schema_hex = f"{struct.root_type_ref.type_id:016x}"
    for url in (API, f"{API}operations/", f"{API}operations/{struct.pk}/", f"{API}schemas/", f"{API}stats/"):
        response = _browse(staff_client, url)
        assert response.status_code == 200, url
        assert response["Content-Type"] == HTML, url
        page = response.content.decode()
        assert page.lstrip().startswith("<!DOCTYPE html>") and 'class="response-info"' in page, url
        headers, body = _shown(page)
        assert headers[0] == "HTTP 200 OK", url
        assert json.loads(body) == staff_client.get(url).json(), url  # what a program gets
    schema_url = f"{API}schemas/{schema_hex}/"
    _, body = _shown(_browse(staff_client, schema_url).content.decode())
    assert json.loads(body) == staff_client.get(schema_url).json()
    assert "struct Point" in json.loads(body)["declaration"]


def test_the_browsable_detail_page_shows_the_decoded_reply(staff_client, ops):
    page = _browse(staff_client, f"{API}operations/{ops['struct'].pk}/").content.decode()
    headers, body = _shown(page)
    assert "Allow: GET, DELETE, HEAD, OPTIONS" in headers
    shown = json.loads(body)
    assert shown["type"] == "Point"
    assert shown["response"]["value"] == {"x": 3, "y": -4}
    assert '"x": 3,' in body  # indented for reading
    # DELETE (release) has its button: staff may use it.
    assert 'data-method="DELETE"' in page


def test_json_clients_are_unchanged(staff_client, ops):
    pk = ops["struct"].pk
    for accept in (None, "*/*", "application/json", "application/json, text/html;q=0.5"):
        extra = {} if accept is None else {"HTTP_ACCEPT": accept}
        response = staff_client.get(f"{API}operations/{pk}/", **extra)
        assert response.status_code == 200, accept
        assert response["Content-Type"] == "application/json", accept
        assert response.json()["response"]["value"] == {"x": 3, "y": -4}, accept
    listed = staff_client.get(f"{API}operations/", {"format": "json"}, HTTP_ACCEPT=BROWSER_ACCEPT)
    assert listed["Content-Type"] == "application/json"
    assert {"next", "previous", "results"} <= set(listed.json())


def test_api_clients_still_get_problems(staff_client, user_client, ops):
    for client, url, status, code in (
        (staff_client, f"{API}operations/999999/", 404, "not-found"),
        (staff_client, f"{API}operations/?state=done", 400, "invalid"),
        (user_client, f"{API}operations/", 403, "permission-denied"),
    ):
        response = client.get(url, HTTP_ACCEPT="application/json")
        assert response.status_code == status, url
        assert response["Content-Type"] == PROBLEM, url
        assert response.json()["code"] == code, url


def test_a_client_accepting_neither_json_nor_html_gets_406(staff_client):
    response = staff_client.get(f"{API}operations/", HTTP_ACCEPT="application/xml")
    assert response.status_code == 406
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "not-acceptable"


def test_a_browser_sees_an_error_on_the_page_as_html(staff_client, ops):
    response = _browse(staff_client, f"{API}operations/999999/")
    assert response.status_code == 404
    assert response["Content-Type"] == HTML  # not an HTML body labelled problem+json
    headers, body = _shown(response.content.decode())
    assert headers[0] == "HTTP 404 Not Found"
    assert f"Content-Type: {PROBLEM}" in headers  # what a program would get
    assert json.loads(body) == staff_client.get(f"{API}operations/999999/").json()
    assert json.loads(body)["type"] == "urn:op-store:problem:not-found"


def test_the_browsable_page_shows_nothing_to_users_without_access(user_client, client, ops):
    sealed = ops["struct"]
    for c in (user_client, client):
        response = _browse(c, f"{API}operations/{sealed.pk}/")
        assert response.status_code in (401, 403)
        assert response["Content-Type"] == HTML
        _, body = _shown(response.content.decode())
        assert json.loads(body)["code"] in ("not-authenticated", "permission-denied")
        assert f"{sealed.operation_id:016x}" not in response.content.decode()
        assert "Point" not in response.content.decode()
        assert 'data-method="DELETE"' not in response.content.decode()


def test_the_schema_url_is_a_page_in_a_browser_and_a_document_otherwise(staff_client, client):
    page = _browse(staff_client, f"{API}schema/")
    assert page.status_code == 200 and page["Content-Type"] == HTML
    assert "openapi: 3." in page.content.decode()  # the YAML document, shown on the page
    document = staff_client.get(f"{API}schema/")
    assert document["Content-Type"].startswith("application/vnd.oai.openapi")
    assert document.content.startswith(b"openapi: 3.")
    # Refused: a page for the browser, a problem (not YAML) for a program.
    refused_page = _browse(client, f"{API}schema/")
    assert refused_page.status_code in (401, 403) and refused_page["Content-Type"] == HTML
    refused = client.get(f"{API}schema/")
    assert refused["Content-Type"] == PROBLEM
    assert refused.json()["code"] in ("not-authenticated", "permission-denied")


# --- the root's links ---------------------------------------------------------------------------------


def test_the_root_links_the_schema_and_the_docs_pages(staff_client):
    root = staff_client.get(API).json()
    assert root["schema"] == f"http://testserver{API}schema/"
    assert root["docs"] == f"http://testserver{API}docs/"
    assert root["redoc"] == f"http://testserver{API}redoc/"
    for key in ("schema", "docs", "redoc"):
        assert staff_client.get(root[key]).status_code == 200, key


# --- the docs pages -----------------------------------------------------------------------------------


class _Resources(HTMLParser):
    """Every URL a page's ``script`` and ``link`` tags load, and every inline script."""

    def __init__(self):
        super().__init__()
        self.urls = []
        self.inline_scripts = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            self._in_script = "src" not in attrs
            if "src" in attrs:
                self.urls.append(attrs["src"])
        elif tag == "link":
            self.urls.append(attrs["href"])

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.inline_scripts.append(data)


def _resources(html):
    parser = _Resources()
    parser.feed(html)
    return parser


def test_the_docs_pages_load_only_local_static_files(staff_client):
    from drf_spectacular.settings import spectacular_settings

    # drf-spectacular's own default is a CDN: the pages must not follow it.
    assert spectacular_settings.SWAGGER_UI_DIST.startswith("https://")
    assert spectacular_settings.REDOC_DIST.startswith("https://")
    for url in DOCS_PAGES:
        response = _browse(staff_client, url)
        assert response.status_code == 200, url
        assert response["Content-Type"] == HTML, url
        html = response.content.decode()
        assert "https://" not in html and "http://" not in html and "//cdn" not in html, url
        assert "fonts.googleapis" not in html, url
        page = _resources(html)
        assert page.urls, url
        for resource in page.urls:
            assert resource.startswith("/static/drf_spectacular_sidecar/"), (url, resource)
            assert finders.find(resource.removeprefix("/static/")), (url, resource)  # the file exists
        assert any("/api/op\\u002Dstore/schema/" in script for script in page.inline_scripts), url


def test_the_swagger_page_loads_swagger_ui_and_the_redoc_page_redoc(staff_client):
    swagger = _resources(_browse(staff_client, f"{API}docs/").content.decode()).urls
    assert set(swagger) == {
        "/static/drf_spectacular_sidecar/swagger-ui-dist/favicon-32x32.png",
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css",
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-standalone-preset.js",
    }
    redoc = _resources(_browse(staff_client, f"{API}redoc/").content.decode()).urls
    assert redoc == ["/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"]


def test_the_docs_pages_tell_the_browser_to_load_nothing_from_another_host(staff_client):
    for url in DOCS_PAGES:
        policy = _browse(staff_client, url)["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["default-src"] == "'self'", url
        for name in ("script-src", "style-src", "img-src", "connect-src", "worker-src"):
            sources = directives[name].split()
            assert "'self'" in sources and not any("." in s or s in ("*", "https:", "http:") for s in sources), url


def test_the_docs_pages_have_the_apis_access_rules(user_client, client):
    for url in DOCS_PAGES:
        refused = _browse(user_client, url)
        assert refused.status_code == 403, url
        assert refused["Content-Type"] == PROBLEM and refused.json()["code"] == "permission-denied", url
        anonymous = _browse(client, url)
        assert anonymous.status_code in (401, 403), url
        assert anonymous["Content-Type"] == PROBLEM, url
        assert anonymous.json()["code"] in ("not-authenticated", "permission-denied"), url
    with override_settings(OP_STORE={"API_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"]}):
        assert _browse(client, f"{API}docs/").status_code == 200


def test_the_docs_pages_are_left_out_of_the_document(staff_client):
    document = staff_client.get(f"{API}schema/", {"format": "json"}).json()
    assert not any(p.endswith(("/docs/", "/redoc/")) for p in document["paths"])


# --- system check W050 --------------------------------------------------------------------------------


def _w050():
    return [m for m in run_checks() if m.id == "op_store.W050"]


def test_w050_warns_when_the_docs_pages_are_mounted_without_the_sidecar(settings):
    assert _w050() == []  # tests/settings.py installs it
    apps_without = [app for app in settings.INSTALLED_APPS if app != "drf_spectacular_sidecar"]
    with override_settings(INSTALLED_APPS=apps_without):
        (warning,) = _w050()
    assert warning.level == 30  # WARNING
    assert f"{API}docs/" in warning.msg and f"{API}redoc/" in warning.msg
    assert "'drf_spectacular_sidecar'" in warning.msg and "INSTALLED_APPS" in warning.hint
    with override_settings(INSTALLED_APPS=apps_without, ROOT_URLCONF=__name__):
        (elsewhere,) = _w050()
    assert "/inspect/docs/" in elsewhere.msg


def test_w050_is_silent_without_the_docs_pages(settings):
    apps_without = [app for app in settings.INSTALLED_APPS if app != "drf_spectacular_sidecar"]
    with override_settings(INSTALLED_APPS=apps_without, ROOT_URLCONF="tests.testapp.urls"):
        assert _w050() == []
