"""A property-based run of schemathesis against the API's OpenAPI document.

schemathesis generates requests from the document (valid and, where there are inputs to break,
invalid parameters and bodies) and sends them to Django's WSGI application in-process, against a
database holding every kind of operation. Every response must not be a server error and must
conform to the document: status code documented, content type, body schema. Raise
``OP_STORE_SCHEMATHESIS_EXAMPLES`` (default 30 per operation and mode) for a deeper run.
"""

import copy
import os

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from tests.support.display import seed

pytest.importorskip("drf_spectacular", reason="the OpenAPI document needs drf-spectacular (api extra)")

pytestmark = pytest.mark.django_db

SCHEMA_URL = "/api/op-store/schema/"

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed (test extra)")

#: Examples per operation and mode; raise it for a deeper run (CI keeps the default fast).
EXAMPLES = int(os.environ.get("OP_STORE_SCHEMATHESIS_EXAMPLES", "30"))
#: Examples per parameter and mode in the per-parameter run (a third of the above, at least 5).
PARAMETER_EXAMPLES = max(5, EXAMPLES // 3)

AUTH = {"Authorization": "Basic c3RhZmY6c3RhZmY="}  # staff:staff


# (method, path, whether it has inputs to get wrong: negative cases need something to break).
OPERATIONS = [
    ("GET", "/api/op-store/", False),
    ("GET", "/api/op-store/operations/", True),
    ("GET", "/api/op-store/operations/{id}/", True),
    ("DELETE", "/api/op-store/operations/{id}/", True),
    ("GET", "/api/op-store/schemas/", True),
    ("GET", "/api/op-store/schemas/{schema_hash}/", True),
    ("GET", "/api/op-store/stats/", False),
    ("POST", "/api/op-store/purge/", True),
]
CASES = [
    (m, p, mode) for m, p, inputs in OPERATIONS for mode in ("positive", "negative") if inputs or mode == "positive"
]

# Auth is tested on every endpoint in test_api_access. schemathesis's ``ignored_auth`` check cannot
# be used here: the document offers two schemes (session cookie OR basic), and the check breaks one
# of them while the other still authenticates, then reports the 200 as "auth ignored".
EXCLUDED_CHECKS = ["ignored_auth"]


@pytest.fixture
def api_app(db, settings, django_user_model):
    """The WSGI application over a seeded database, with a superuser ``staff`` to authenticate as."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # one hash per request
    django_user_model.objects.create_superuser("staff", "", "staff")
    seed()
    # Like Django's test client: requests must not close the test's connection (its transaction).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(api_app):
    return schemathesis.openapi.from_wsgi(f"{SCHEMA_URL}?format=json", api_app, headers=AUTH)


def _parameters(raw_schema):
    """(method, path, parameter name) of every parameter of every endpoint in the document."""
    return [
        (method.upper(), path, parameter["name"])
        for path, item in raw_schema["paths"].items()
        for method, operation in item.items()
        for parameter in operation.get("parameters", [])
    ]


#: Every parameter the document declares; test_every_parameter_is_listed keeps this in step.
PARAMETERS = [
    ("GET", "/api/op-store/operations/", name)
    for name in (
        "created_after",
        "created_before",
        "cursor",
        "key",
        "lease_expired",
        "method",
        "older_than",
        "operation_id",
        "page_size",
        "scope",
        "state",
    )
] + [
    ("GET", "/api/op-store/operations/{id}/", "id"),
    ("DELETE", "/api/op-store/operations/{id}/", "id"),
    *[("GET", "/api/op-store/schemas/", name) for name in ("cursor", "kind", "name", "page_size")],
    ("GET", "/api/op-store/schemas/{schema_hash}/", "schema_hash"),
]


def test_every_parameter_is_listed(api_schema):
    assert sorted(_parameters(api_schema.raw_schema)) == sorted(PARAMETERS)


@pytest.mark.parametrize(("method", "path", "name"), PARAMETERS)
@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_every_parameter_is_fuzzed_without_a_server_error(api_app, api_schema, method, path, name, mode):
    """Each parameter on its own, made required so that every generated request carries it: valid
    values (positive) and values breaking its schema (negative) never get a 5xx, and every error
    is a problem."""
    from hypothesis import HealthCheck, given, settings
    from schemathesis import GenerationMode

    raw = copy.deepcopy(api_schema.raw_schema)
    for parameter in raw["paths"][path][method.lower()]["parameters"]:
        if parameter["name"] == name:
            parameter["required"] = True
    schema = schemathesis.openapi.from_dict(raw)
    schema.app = api_app
    strategy = schema[path][method].as_strategy(generation_mode=GenerationMode(mode), headers=AUTH)

    @given(case=strategy)
    @settings(max_examples=PARAMETER_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(case):
        response = case.call()
        assert response.status_code < 500, (case.path_parameters, case.query, response.text[:300])
        if response.status_code >= 400:
            assert response.headers["content-type"] == ["application/problem+json"], response.headers

    run()


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_the_api_conforms_to_its_document(api_schema, method, path, mode):
    """No 500s, and every response (errors included) matches the document."""
    from hypothesis import HealthCheck, given, settings
    from schemathesis import GenerationMode

    operation = api_schema[path][method]
    strategy = operation.as_strategy(generation_mode=GenerationMode(mode), headers=AUTH)

    @given(case=strategy)
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(case):
        case.call_and_validate(excluded_checks=[getattr(schemathesis.checks, name) for name in EXCLUDED_CHECKS])

    run()


def test_every_kind_of_operation_conforms(api_schema):
    """Random ids rarely hit each seeded row: check every one explicitly (decoded values, HTTP
    replies, errors with hex, unsealed rows) against the document."""
    from op_store.models import Operation

    detail = api_schema["/api/op-store/operations/{id}/"]["GET"]
    pks = list(Operation.objects.values_list("pk", flat=True))
    assert len(pks) >= 16
    for pk in pks:
        response = detail.Case(path_parameters={"id": pk}, headers=AUTH).call_and_validate(
            excluded_checks=[getattr(schemathesis.checks, name) for name in EXCLUDED_CHECKS]
        )
        assert response.status_code == 200
