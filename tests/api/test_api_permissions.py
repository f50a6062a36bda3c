"""Least privilege in the inspection API, and the admin agreeing with it.

Staff status alone opens nothing: reading operations needs ``view_operation``, reading schemas
``view_schema``, releasing ``delete_operation``, purging the custom ``purge_operations``; the decoded
reply of an operation outside the user's own scope (``user:<pk>``, the default resolver's) also
needs the custom ``view_payload``. Without it the operation is listed and shown, its reply withheld.
"""

import base64

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client, override_settings
from rest_framework.authentication import BasicAuthentication, SessionAuthentication

from op_store.api.schema_view import OpenAPISchemaView
from op_store.api.views import OpStoreView
from op_store.models import Operation
from op_store.store.orm import DjangoOperationStore
from tests.support.display import Point, seal_value, seed

pytestmark = pytest.mark.django_db

API = "/api/op-store/"
OPERATIONS = f"{API}operations/"
ADMIN = "/admin/op_store/operation/"
PROBLEM = "application/problem+json"


def _user(*codenames, staff=True, superuser=False, username="inspector"):
    user = get_user_model().objects.create_user(username, is_staff=staff, is_superuser=superuser)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="op_store", codename__in=codenames))
    assert sorted(user.user_permissions.values_list("codename", flat=True)) == sorted(codenames)
    return user


def _client(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def ops():
    return seed()


def _schema_hex(ops):
    return f"{ops['struct'].root_type_ref.type_id:016x}"


def _endpoints(ops):
    """(method, path) of every endpoint."""
    return [
        ("get", API),
        ("get", OPERATIONS),
        ("get", f"{OPERATIONS}{ops['struct'].pk}/"),
        ("delete", f"{OPERATIONS}{ops['admitted'].pk}/"),
        ("get", f"{API}schemas/"),
        ("get", f"{API}schemas/{_schema_hex(ops)}/"),
        ("get", f"{API}stats/"),
        ("post", f"{API}purge/"),
        ("get", f"{API}schema/"),
    ]


def _call(client, method, path, **extra):
    if method == "post":
        return client.post(path, {}, content_type="application/json", **extra)
    return getattr(client, method)(path, **extra)


def _denied(response):
    assert response.status_code == 403, response.content[:300]
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "permission-denied"


def test_the_custom_permissions_exist():
    codenames = set(Permission.objects.filter(content_type__app_label="op_store").values_list("codename", flat=True))
    assert {"purge_operations", "view_payload", "view_operation", "delete_operation"} <= codenames


def test_staff_without_model_permissions_gets_403_everywhere(ops):
    client = _client(_user())
    for method, path in _endpoints(ops):
        _denied(_call(client, method, path))
    assert Operation.objects.filter(pk=ops["admitted"].pk).exists()


def test_staff_without_model_permissions_is_refused_by_the_admin_too(ops):
    client = _client(_user())
    assert client.get(ADMIN).status_code == 403
    assert client.get(f"{ADMIN}{ops['struct'].pk}/change/").status_code == 403


def test_a_non_staff_user_with_every_permission_is_refused_like_the_admin_refuses_them(ops):
    codenames = ("view_operation", "delete_operation", "purge_operations", "view_payload", "view_schema")
    client = _client(_user(*codenames, staff=False))
    for method, path in _endpoints(ops):
        _denied(_call(client, method, path))
    assert client.get(ADMIN).status_code == 302  # to the admin's login page


def test_view_operation_reads_operations_but_not_other_scopes_replies(ops):
    client = _client(_user("view_operation"))
    assert client.get(API).status_code == 200
    assert client.get(f"{API}stats/").status_code == 200
    rows = client.get(OPERATIONS, {"page_size": 100}).json()["results"]
    assert {row["id"] for row in rows} == {op.pk for op in ops.values()}
    body = client.get(f"{OPERATIONS}{ops['struct'].pk}/").json()
    assert body["response"] is None and body["fingerprint"] is None
    assert body["withheld"] == ["response", "fingerprint"]
    assert body["state"] == "sealed" and body["scope"] == "alice"  # the operation itself is shown
    assert client.get(f"{API}schema/").status_code == 200  # the API's document: any op_store permission
    for method, path in _endpoints(ops):
        if method != "get" or "/schemas/" in path:
            _denied(_call(client, method, path))


def test_withheld_replies_are_said_to_be_withheld_not_missing(ops):
    client = _client(_user("view_operation"))
    sealed = client.get(f"{OPERATIONS}{ops['http_json'].pk}/").json()
    admitted = client.get(f"{OPERATIONS}{ops['admitted'].pk}/").json()
    assert sealed["response"] is None and sealed["withheld"] == ["response", "fingerprint"]
    assert admitted["response"] is None and admitted["withheld"] == ["response", "fingerprint"]


def test_view_payload_shows_other_scopes_replies(ops):
    client = _client(_user("view_operation", "view_payload"))
    body = client.get(f"{OPERATIONS}{ops['struct'].pk}/").json()
    assert body["response"]["value"] == {"x": 3, "y": -4}
    assert body["fingerprint"] == ops["struct"].fingerprint_hex
    assert body["withheld"] == []


def test_view_payload_alone_opens_nothing(ops):
    client = _client(_user("view_payload"))
    _denied(client.get(f"{OPERATIONS}{ops['struct'].pk}/"))
    _denied(client.get(OPERATIONS))


def test_a_users_own_operations_show_their_replies_without_view_payload(ops):
    user = _user("view_operation")
    own = seal_value(DjangoOperationStore(f"user:{user.pk}"), Point(5, 6), Point)
    body = _client(user).get(f"{OPERATIONS}{own.pk}/").json()
    assert body["response"]["value"] == {"x": 5, "y": 6} and body["withheld"] == []
    other = seal_value(DjangoOperationStore(f"user:{user.pk + 1}"), Point(7, 8), Point)
    assert _client(user).get(f"{OPERATIONS}{other.pk}/").json()["withheld"] == ["response", "fingerprint"]


def test_view_schema_reads_schemas_only(ops):
    client = _client(_user("view_schema"))
    assert client.get(f"{API}schemas/").status_code == 200
    assert client.get(f"{API}schemas/{_schema_hex(ops)}/").status_code == 200
    assert client.get(API).status_code == 200
    _denied(client.get(OPERATIONS))
    _denied(client.get(f"{API}stats/"))


def test_release_needs_delete_operation(ops):
    viewer = _client(_user("view_operation", "view_payload", username="viewer"))
    _denied(viewer.delete(f"{OPERATIONS}{ops['admitted'].pk}/"))
    assert Operation.objects.filter(pk=ops["admitted"].pk).exists()
    releaser = _client(_user("delete_operation", username="releaser"))
    assert releaser.delete(f"{OPERATIONS}{ops['admitted'].pk}/").status_code == 204
    assert not Operation.objects.filter(pk=ops["admitted"].pk).exists()
    _denied(releaser.post(f"{API}purge/", {}, content_type="application/json"))


def test_purge_needs_purge_operations(ops):
    deleter = _client(_user("view_operation", "delete_operation", username="deleter"))
    _denied(deleter.post(f"{API}purge/", {"dry_run": True}, content_type="application/json"))
    purger = _client(_user("purge_operations", username="purger"))
    response = purger.post(f"{API}purge/", {"dry_run": True}, content_type="application/json")
    assert response.status_code == 200 and response.json()["dry_run"] is True
    _denied(purger.delete(f"{OPERATIONS}{ops['admitted'].pk}/"))


def test_the_admin_agrees_on_purge(ops):
    deleter = _client(_user("view_operation", "delete_operation", username="deleter"))
    assert deleter.get(f"{ADMIN}purge/").status_code == 403
    assert deleter.post(f"{ADMIN}purge/").status_code == 403
    purger = _client(_user("view_operation", "purge_operations", username="purger"))
    assert purger.get(f"{ADMIN}purge/").status_code == 200
    assert b"/purge/" in purger.get(ADMIN).content  # the purge link shows for them only
    assert b"/purge/" not in deleter.get(ADMIN).content


def test_the_admin_agrees_on_replies_of_other_scopes(ops):
    page = f"{ADMIN}{ops['struct'].pk}/change/"
    viewer = _client(_user("view_operation", username="viewer"))
    content = viewer.get(page).content.decode()
    assert "withheld" in content and ops["struct"].fingerprint_hex not in content
    reader = _client(_user("view_operation", "view_payload", username="reader"))
    content = reader.get(page).content.decode()
    assert "withheld" not in content and ops["struct"].fingerprint_hex in content


def test_a_superuser_can_do_everything(ops):
    client = _client(_user(superuser=True))
    expected = {"delete": 204}
    for method, path in _endpoints(ops):
        response = _call(client, method, path)
        assert response.status_code == expected.get(method, 200), (method, path)
    assert client.get(f"{OPERATIONS}{ops['struct'].pk}/").json()["withheld"] == []


def test_anonymous_callers_get_401_with_a_basic_challenge_under_drfs_default_authentication(ops):
    """DRF's defaults put SessionAuthentication (no challenge) before BasicAuthentication; the API
    answers with the first challenge any of its authenticators offers."""
    for method, path in _endpoints(ops):
        response = _call(Client(), method, path)
        assert response.status_code == 401, (method, path)
        assert response["WWW-Authenticate"] == 'Basic realm="api"'
        assert response.json()["code"] == "not-authenticated"


def test_anonymous_callers_get_403_when_no_authenticator_offers_a_challenge(ops, monkeypatch):
    monkeypatch.setattr(OpStoreView, "authentication_classes", [SessionAuthentication])
    monkeypatch.setattr(OpenAPISchemaView, "authentication_classes", [SessionAuthentication])
    for method, path in _endpoints(ops):
        response = _call(Client(), method, path)
        assert response.status_code == 403 and "WWW-Authenticate" not in response, (method, path)
        assert response.json()["code"] == "not-authenticated"


def test_basic_credentials_get_the_same_permissions(ops, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = _user("view_operation")
    user.set_password("pw")
    user.save()
    auth = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"inspector:pw").decode()}
    assert Client().get(OPERATIONS, **auth).status_code == 200
    _denied(Client().post(f"{API}purge/", {}, content_type="application/json", **auth))
    wrong = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"inspector:nope").decode()}
    response = Client().get(OPERATIONS, **wrong)
    assert response.status_code == 401 and response.json()["code"] == "authentication-failed"


def test_monkeypatched_basic_auth_still_challenges(ops, monkeypatch):
    monkeypatch.setattr(OpStoreView, "authentication_classes", [BasicAuthentication])
    response = Client().get(OPERATIONS)
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Basic")


def test_is_admin_user_can_still_be_configured_and_replies_stay_withheld(ops):
    client = _client(_user())
    with override_settings(OP_STORE={"API_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"]}):
        assert client.get(OPERATIONS).status_code == 200
        assert client.post(f"{API}purge/", {}, content_type="application/json").status_code == 200
        body = client.get(f"{OPERATIONS}{ops['struct'].pk}/").json()
    assert body["withheld"] == ["response", "fingerprint"] and body["response"] is None
    _denied(client.get(OPERATIONS))


def test_a_method_a_view_does_not_serve_is_a_405_even_without_permissions(ops):
    client = _client(_user())
    response = client.post(f"{API}stats/")
    assert response.status_code == 405 and response.json()["code"] == "method-not-allowed"


def test_a_method_a_view_serves_but_does_not_list_is_refused_even_to_a_superuser():
    from rest_framework.test import APIRequestFactory, force_authenticate

    from op_store.api.permissions import InspectionPermissions

    class Unlisted(OpStoreView):
        required_permissions = {"GET": ("op_store.view_operation",)}

        def get(self, request):
            raise AssertionError("not called")

        def put(self, request):
            raise AssertionError("must not be reached")

    superuser = _user(superuser=True)
    request = APIRequestFactory().put("/x/")
    force_authenticate(request, superuser)
    view = Unlisted()
    assert InspectionPermissions().has_permission(Unlisted().initialize_request(request), view) is False
    request = APIRequestFactory().get("/x/")
    force_authenticate(request, superuser)
    assert InspectionPermissions().has_permission(view.initialize_request(request), view) is True
