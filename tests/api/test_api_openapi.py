"""The OpenAPI document (drf-spectacular, optional): what it describes, and life without it.

The property-based run against this document is in test_api_schemathesis.py.
"""

import json
import os
import re

import pytest
import yaml

from tests.support.display import login_client

pytest.importorskip("drf_spectacular", reason="the OpenAPI document needs drf-spectacular (api extra)")

pytestmark = pytest.mark.django_db

SCHEMA_URL = "/api/op-store/schema/"


@pytest.fixture
def staff_client():
    return login_client()


def test_the_document_is_openapi_3_with_only_op_store_paths(staff_client):
    response = staff_client.get(SCHEMA_URL)
    assert response.status_code == 200
    document = yaml.safe_load(response.content)
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {
        "/api/op-store/",
        "/api/op-store/operations/",
        "/api/op-store/operations/{id}/",
        "/api/op-store/schemas/",
        "/api/op-store/schemas/{schema_hash}/",
        "/api/op-store/stats/",
        "/api/op-store/purge/",
    }
    assert not any(path.startswith("/lc/") for path in document["paths"])
    release = document["paths"]["/api/op-store/operations/{id}/"]["delete"]["responses"]
    assert set(release) == {"204", "401", "403", "404", "409"}
    assert "application/problem+json" in release["409"]["content"]


def test_the_document_is_valid_openapi(staff_client):
    from drf_spectacular.validation import validate_schema

    document = staff_client.get(SCHEMA_URL, {"format": "json"}).json()
    validate_schema(document)
    params = {p["name"] for p in document["paths"]["/api/op-store/operations/"]["get"]["parameters"]}
    assert {"state", "scope", "method", "key", "operation_id", "created_after", "created_before"} <= params
    assert {"older_than", "lease_expired", "cursor", "page_size"} <= params


def test_json_is_served_on_request(staff_client):
    response = staff_client.get(SCHEMA_URL, HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert json.loads(response.content)["info"]["title"] == "op_store inspection API"


WITHOUT_SPECTACULAR = """
import sys
sys.modules["drf_spectacular"] = None  # as if the package were not installed
import django
django.setup()
from django.core.management import call_command
from django.test import Client
from django.test.utils import setup_test_environment
from django.contrib.auth import get_user_model

setup_test_environment()
call_command("migrate", verbosity=0)
client = Client()
client.force_login(get_user_model().objects.create_superuser("s", "", None))
from op_store.api import openapi
assert not openapi.SPECTACULAR
assert client.get("/api/op-store/operations/").status_code == 200
assert client.get("/api/op-store/stats/").status_code == 200
missing = client.get("/api/op-store/schema/")
assert missing.status_code == 404 and missing["Content-Type"] == "application/problem+json"
print("ok")
"""


def test_the_api_works_without_drf_spectacular():
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "OP_STORE_TEST_DB": "sqlite"}
    env.pop("OP_STORE_SQLITE_NAME", None)
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_SPECTACULAR], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")


def test_filter_parameters_are_documented_as_they_are_validated(staff_client):
    document = staff_client.get(SCHEMA_URL, {"format": "json"}).json()
    operations = document["paths"]["/api/op-store/operations/"]["get"]["parameters"]
    params = {p["name"]: p for p in operations if p["name"] not in ("cursor", "page_size")}
    assert set(params) == {
        "state", "scope", "method", "key", "operation_id", "created_after", "created_before", "older_than",
        "lease_expired",
    }  # fmt: skip
    assert all(p["in"] == "query" and not p["required"] and p["description"] for p in params.values())
    assert params["scope"]["schema"] == {"type": "string", "maxLength": 255, "pattern": "^[^\\u0000]*$"}
    assert params["older_than"]["schema"] == {"type": "number", "minimum": 0, "maximum": 10**9}
    assert params["created_after"]["schema"] == {"type": "string", "format": "date-time"}
    assert params["lease_expired"]["schema"] == {"type": "boolean"}
    state = params["state"]["schema"]["pattern"]
    for value, valid in (("sealed", True), ("admitted,expired", True), ("done", False), ("sealed,", False)):
        assert bool(re.fullmatch(state, value)) is valid
        status = staff_client.get("/api/op-store/operations/", {"state": value}).status_code
        assert status == (200 if valid else 400), value
    schemas = document["paths"]["/api/op-store/schemas/"]["get"]["parameters"]
    kind = next(p for p in schemas if p["name"] == "kind")
    assert kind["schema"]["enum"][:3] == ["struct", "enum", "tuple"]
