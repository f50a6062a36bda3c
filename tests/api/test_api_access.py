"""Every inspection API endpoint as staff, as an ordinary user and anonymously."""

import pytest
from django.test import Client, override_settings
from rest_framework.authentication import BasicAuthentication

from op_store.api.schema_view import OpenAPISchemaView
from op_store.api.views import OpStoreView
from tests.support.display import login_client, seed

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


@pytest.fixture
def ops():
    return seed()


@pytest.fixture
def staff_client():
    return login_client()


@pytest.fixture
def user_client():
    return login_client(staff=False, superuser=False, username="someone")


def _endpoints(ops):
    """(method, path, staff's expected status) for every endpoint."""
    sealed = ops["struct"]
    schema_hex = f"{sealed.root_type_ref.type_id:016x}"
    return [
        ("get", "/api/op-store/", 200),
        ("get", "/api/op-store/operations/", 200),
        ("get", f"/api/op-store/operations/{sealed.pk}/", 200),
        ("delete", f"/api/op-store/operations/{ops['admitted'].pk}/", 204),
        ("get", "/api/op-store/schemas/", 200),
        ("get", f"/api/op-store/schemas/{schema_hex}/", 200),
        ("get", "/api/op-store/stats/", 200),
        ("post", "/api/op-store/purge/", 200),
        ("get", "/api/op-store/schema/", 200),
    ]


def _call(client, method, path):
    if method == "post":
        return client.post(path, {}, content_type="application/json")
    return getattr(client, method)(path)


def test_staff_can_use_every_endpoint(staff_client, ops):
    for method, path, expected in _endpoints(ops):
        response = _call(staff_client, method, path)
        assert response.status_code == expected, (method, path, response.content[:300])


def test_an_ordinary_user_gets_403_problems(user_client, ops):
    for method, path, _ in _endpoints(ops):
        response = _call(user_client, method, path)
        assert response.status_code == 403, (method, path)
        assert response["Content-Type"] == PROBLEM
        body = response.json()
        assert body["code"] == "permission-denied"
        assert body["type"] == "urn:op-store:problem:permission-denied"
        assert body["status"] == 403 and body["title"] and body["detail"]


def test_anonymous_callers_get_401_problems(client, ops):
    # DRF's default authenticators put SessionAuthentication (no challenge) before Basic; the API
    # answers with the first challenge offered (test_api_permissions covers sessions alone).
    for method, path, _ in _endpoints(ops):
        response = _call(client, method, path)
        assert response.status_code == 401, (method, path)
        assert response["Content-Type"] == PROBLEM
        assert response["WWW-Authenticate"] == 'Basic realm="api"'
        assert response.json()["code"] == "not-authenticated"
        assert response.json()["status"] == response.status_code


def test_anonymous_callers_get_401_with_a_challenge_when_basic_auth_comes_first(client, ops, monkeypatch):
    # authentication_classes are read when a view class is defined, as in every DRF view.
    monkeypatch.setattr(OpStoreView, "authentication_classes", [BasicAuthentication])
    monkeypatch.setattr(OpenAPISchemaView, "authentication_classes", [BasicAuthentication])
    for method, path, _ in _endpoints(ops):
        response = _call(client, method, path)
        assert response.status_code == 401, (method, path)
        assert response["WWW-Authenticate"].startswith("Basic")
        assert response.json()["code"] == "not-authenticated"


def test_basic_auth_works_for_staff(ops, admin_user):
    import base64

    token = base64.b64encode(b"admin:password").decode()
    response = Client().get("/api/op-store/operations/", HTTP_AUTHORIZATION=f"Basic {token}")
    assert response.status_code == 200


def test_permission_classes_are_configurable(user_client, client, ops):
    with override_settings(OP_STORE={"API_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"]}):
        assert user_client.get("/api/op-store/operations/").status_code == 200
        assert client.get("/api/op-store/operations/").status_code in (401, 403)
    with override_settings(OP_STORE={"API_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"]}):
        assert client.get("/api/op-store/stats/").status_code == 200
    assert user_client.get("/api/op-store/operations/").status_code == 403


def test_the_root_lists_the_endpoints(staff_client):
    body = staff_client.get("/api/op-store/").json()
    assert body == {
        "operations": "http://testserver/api/op-store/operations/",
        "schemas": "http://testserver/api/op-store/schemas/",
        "stats": "http://testserver/api/op-store/stats/",
        "purge": "http://testserver/api/op-store/purge/",
        "schema": "http://testserver/api/op-store/schema/",
        "docs": "http://testserver/api/op-store/docs/",
        "redoc": "http://testserver/api/op-store/redoc/",
    }
