"""Every error of the inspection API is application/problem+json, and only the API's."""

import pytest
from django.test import override_settings

from op_store.api import problems
from op_store.api.views import StatsView
from op_store.lifecycle import problems as lifecycle_problems
from tests.support.display import login_client

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


@pytest.fixture
def staff_client():
    return login_client()


def _problem(response, status, code):
    assert response.status_code == status
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["code"] == code
    assert body["type"] == f"urn:op-store:problem:{code}"
    assert body["title"] and body["detail"]
    return body


def test_the_problem_vocabulary_matches_the_lifecycles():
    assert problems.TYPE_PREFIX == lifecycle_problems.TYPE_PREFIX
    assert problems.PROBLEM_CONTENT_TYPE == lifecycle_problems.PROBLEM_CONTENT_TYPE


@pytest.mark.parametrize(
    "path",
    ["/api/op-store/nope/", "/api/op-store/operations/abc/", "/api/op-store/schemas/xyz/", "/api/op-store/a/b/c/"],
)
def test_unknown_paths_under_the_prefix_are_404_problems(staff_client, path):
    body = _problem(staff_client.get(path), 404, "not-found")
    assert path in body["detail"]


def test_a_post_to_an_unknown_path_is_a_404_not_a_csrf_page(staff_client):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    _problem(client.post("/api/op-store/nope/"), 404, "not-found")


def test_missing_trailing_slash_still_redirects(staff_client):
    response = staff_client.get("/api/op-store/stats")
    assert response.status_code == 301 and response["Location"].endswith("/api/op-store/stats/")


def test_wrong_methods_are_405_problems(staff_client):
    _problem(staff_client.post("/api/op-store/stats/"), 405, "method-not-allowed")
    _problem(staff_client.get("/api/op-store/purge/"), 405, "method-not-allowed")
    _problem(staff_client.put("/api/op-store/operations/1/"), 405, "method-not-allowed")


def test_unparsable_bodies_are_400_problems(staff_client):
    _problem(staff_client.post("/api/op-store/purge/", "{", content_type="application/json"), 400, "parse-error")


def test_validation_errors_list_fields(staff_client):
    body = _problem(staff_client.get("/api/op-store/operations/", {"state": "x", "page_size": 0}), 400, "invalid")
    assert set(body["errors"]) == {"state"}  # filters are checked before the page
    body = _problem(staff_client.get("/api/op-store/operations/", {"page_size": 0}), 400, "invalid")
    assert set(body["errors"]) == {"page_size"}


def test_unexpected_errors_are_500_problems_and_still_reported(staff_client, monkeypatch):
    from django.core.signals import got_request_exception

    def boom(self, request):
        raise RuntimeError("boom")

    seen = []

    def receiver(sender, request, **kwargs):
        seen.append(request.path)

    monkeypatch.setattr(StatsView, "get", boom)
    got_request_exception.connect(receiver)
    staff_client.raise_request_exception = False
    try:
        body = _problem(staff_client.get("/api/op-store/stats/"), 500, "internal-error")
    finally:
        got_request_exception.disconnect(receiver)
    assert "boom" not in body["detail"]  # no internals leak
    assert seen == ["/api/op-store/stats/"]


def test_with_debug_on_unexpected_errors_reach_djangos_technical_page(staff_client, monkeypatch):
    def boom(self, request):
        raise RuntimeError("boom")

    monkeypatch.setattr(StatsView, "get", boom)
    staff_client.raise_request_exception = False
    with override_settings(DEBUG=True):
        response = staff_client.get("/api/op-store/stats/")
    assert response.status_code == 500 and response["Content-Type"] != PROBLEM


def test_the_hosts_own_exception_handler_is_untouched(staff_client):
    from rest_framework.settings import api_settings
    from rest_framework.views import exception_handler

    assert api_settings.EXCEPTION_HANDLER is exception_handler
