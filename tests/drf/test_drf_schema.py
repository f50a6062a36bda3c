"""The project's own OpenAPI schema (drf-spectacular) documents exactly-once, for exactly its operations.

The schema of tests/drfapp is generated with spectacular's ``SchemaGenerator``, validated with its
validator, and compared with the schema spectacular makes without op_store's extension.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from django.test import override_settings
from django.urls import path
from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.plumbing import OpenApiGeneratorExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from drf_spectacular.validation import validate_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.views import APIView

from op_store.decorators import exactly_once
from op_store.drf import ExactlyOnceMixin, exactly_once_operations
from op_store.drf.schema import ExactlyOnceViewExtension
from tests.drfapp import urls, views
from tests.drfapp.models import Note

ROOT = Path(__file__).resolve().parents[2]
SPECTACULAR = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}
PROBLEM_JSON = "application/problem+json"
URN = "urn:op-store:problem:"

#: (path, method) of every operation of tests/drfapp that applies exactly-once, and whether a key is required.
EXACTLY_ONCE = {
    ("/notes/", "post"): False,
    ("/notes/{id}/", "put"): False,
    ("/notes/{id}/", "patch"): False,
    ("/notes/{id}/", "delete"): False,
    ("/notes/{id}/pin/", "post"): True,
    ("/notes-required/", "post"): True,
    ("/stamps/", "post"): False,
    ("/inner-fn/", "post"): False,
    ("/outer-fn/", "post"): False,
}
PLAIN = [
    ("/notes/", "get"),
    ("/notes/{id}/", "get"),
    ("/notes/{id}/touch/", "post"),
    ("/stamps/", "get"),
    ("/plain/", "post"),
]


@pytest.fixture(autouse=True)
def _spectacular() -> Iterator[None]:
    """What a project using drf-spectacular sets: its AutoSchema as DRF's schema class."""
    with override_settings(REST_FRAMEWORK=SPECTACULAR):
        yield


def generate(patterns: list[Any] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = SchemaGenerator(patterns=patterns or urls.urlpatterns).get_schema(
        request=None, public=True
    )
    validate_schema(schema)
    return schema


def key_parameter(operation: dict[str, Any]) -> dict[str, Any] | None:
    found = [p for p in operation.get("parameters", []) if p["in"] == "header" and p["name"] == "Idempotency-Key"]
    assert len(found) <= 1
    return found[0] if found else None


def problem_types(operation: dict[str, Any]) -> dict[str, list[str]]:
    """Status -> the problem type URIs its problem+json response lists."""
    found = {}
    for status, response in operation["responses"].items():
        media = response.get("content", {}).get(PROBLEM_JSON)
        if media is not None:
            ref, narrowed = media["schema"]["allOf"]
            assert ref == {"$ref": "#/components/schemas/ExactlyOnceProblem"}
            found[status] = narrowed["properties"]["type"]["enum"]
    return found


# --- what is documented, and where ---------------------------------------------------------------


def test_every_exactly_once_operation_has_the_key_header_as_configured() -> None:
    paths = generate()["paths"]
    for (route, method), required in EXACTLY_ONCE.items():
        parameter = key_parameter(paths[route][method])
        assert parameter is not None, (route, method)
        assert parameter["required"] is required, (route, method)
        assert parameter["schema"]["type"] == "string" and parameter["schema"]["minLength"] == 1


def test_require_key_setting_makes_the_header_required() -> None:
    with override_settings(OP_STORE={"REQUIRE_KEY": True}):
        paths = generate()["paths"]
    assert key_parameter(paths["/notes/"]["post"])["required"] is True  # type: ignore[index]
    assert URN + "missing-key" in problem_types(paths["/notes/"]["post"])["400"]


def test_everything_else_is_as_spectacular_makes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    ours = generate()
    registry = [e for e in OpenApiViewExtension._registry if e is not ExactlyOnceViewExtension]
    monkeypatch.setattr(OpenApiViewExtension, "_registry", registry)
    theirs = generate()
    for route, method in PLAIN:
        operation = ours["paths"][route][method]
        assert operation == theirs["paths"][route][method], (route, method)
        assert key_parameter(operation) is None and not problem_types(operation)
    for route, method in EXACTLY_ONCE:
        added, plain = ours["paths"][route][method], theirs["paths"][route][method]
        assert added != plain
        assert [q for q in added.get("parameters", []) if q["name"] != "Idempotency-Key"] == plain.get("parameters", [])
        for status, response in plain["responses"].items():
            assert added["responses"][status].get("content") == response.get("content"), (route, method, status)
        assert {k: v for k, v in added.items() if k not in ("parameters", "responses")} == {
            k: v for k, v in plain.items() if k not in ("parameters", "responses")
        }
    assert "ExactlyOnceProblem" not in theirs["components"]["schemas"]


def test_with_an_older_spectacular_that_passes_only_the_view_class(monkeypatch: pytest.MonkeyPatch) -> None:
    def class_only(self: OpenApiViewExtension, target_callback: Any) -> None:
        OpenApiGeneratorExtension.__init__(self, target_callback.cls)

    monkeypatch.setattr(ExactlyOnceViewExtension, "__init__", class_only)
    paths = generate()["paths"]
    for (route, method), required in EXACTLY_ONCE.items():
        parameter = key_parameter(paths[route][method])
        if route == "/outer-fn/":
            assert parameter is None  # the decorator around the URL callback: not seen without the callback
        else:
            assert parameter is not None and parameter["required"] is required, (route, method)
    for route, method in PLAIN:
        assert key_parameter(paths[route][method]) is None, (route, method)


def test_problem_responses_list_what_each_operation_can_answer() -> None:
    paths = generate()["paths"]
    assert problem_types(paths["/notes/"]["post"]) == {
        "400": [URN + "malformed-key"],
        "403": [URN + "anonymous-key"],
        "409": [URN + "in-flight", URN + "indeterminate"],
        "410": [URN + "expired"],
        "413": [URN + "request-too-large"],
        "422": [URN + "fingerprint-mismatch"],
    }
    # pin: required=True, atomic=True, stale="reexecute": missing-key, no indeterminate, the transactional ones.
    assert problem_types(paths["/notes/{id}/pin/"]["post"]) == {
        "400": [URN + "malformed-key", URN + "missing-key"],
        "403": [URN + "anonymous-key"],
        "409": [URN + "in-flight", URN + "ownership-lost"],
        "410": [URN + "expired"],
        "413": [URN + "request-too-large"],
        "422": [URN + "fingerprint-mismatch"],
        "503": [URN + "seal-failed"],
    }
    # stamps: the shared scope never refuses a caller.
    assert "403" not in problem_types(paths["/stamps/"]["post"])


def test_stale_policy_and_atomic_requests_settings_change_the_409s(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(connections.settings["default"], "ATOMIC_REQUESTS", True)
    with override_settings(OP_STORE={"STALE_POLICY": "reexecute_if_transactional"}):
        operation = generate()["paths"]["/notes/"]["post"]
    types = problem_types(operation)
    assert types["409"] == [URN + "in-flight", URN + "indeterminate", URN + "ownership-lost"]
    assert types["503"] == [URN + "seal-failed"]


def test_problem_responses_are_problem_json_with_retry_after_where_sent() -> None:
    schema = generate()
    operation = schema["paths"]["/notes/{id}/pin/"]["post"]
    component = schema["components"]["schemas"]["ExactlyOnceProblem"]
    assert component["required"] == ["type", "code", "title", "status", "detail"]
    for status in ("409", "503"):
        assert operation["responses"][status]["headers"]["Retry-After"]["schema"] == {"type": "integer"}
    for status in ("400", "403", "410", "413", "422"):
        assert "Retry-After" not in operation["responses"][status].get("headers", {})
    conflict = operation["responses"]["422"]
    assert list(conflict["content"]) == [PROBLEM_JSON]
    assert conflict["content"][PROBLEM_JSON]["schema"]["allOf"][1]["properties"]["status"]["enum"] == [422]
    assert "Idempotency key reused for a different request" in conflict["description"]


def test_stored_responses_carry_the_replay_header() -> None:
    paths = generate()["paths"]
    for route, method, status in [("/notes/", "post", "201"), ("/notes/{id}/", "delete", "204")]:
        header = paths[route][method]["responses"][status]["headers"]["Idempotent-Replayed"]
        assert header["schema"] == {"type": "string", "enum": ["true"]}
    assert "headers" not in paths["/notes/"]["get"]["responses"]["200"]


def test_the_key_pattern_accepts_what_the_server_accepts() -> None:
    operation = generate()["paths"]["/notes/"]["post"]
    pattern = re.compile(key_parameter(operation)["schema"]["pattern"])  # type: ignore[index]
    for good in ["k-1", "7f3c9b2e-0a1d", "x" * 255, '"with space"', '"esc\\"aped"']:
        assert pattern.match(good), good
    for bad in ["", "has space", "x" * 256, '"unterminated', "tab\there", "é"]:
        assert not pattern.match(bad), bad


# --- with the project's own @extend_schema -------------------------------------------------------


def _documented_views() -> list[Any]:
    """Views that also use ``@extend_schema`` (defined here: spectacular must be DRF's schema class first)."""

    class DocumentedView(APIView):
        serializer_class = views.NoteSerializer

        @extend_schema(
            responses={201: views.NoteSerializer, 400: OpenApiResponse(description="Invalid note.")},
            parameters=[OpenApiParameter("X-Trace", str, OpenApiParameter.HEADER)],
        )
        @exactly_once(required=True)
        def post(self, request: Request) -> Response:
            return Response(status=201)

    class DocumentedViewSet(viewsets.GenericViewSet):
        queryset = Note.objects.all()
        serializer_class = views.NoteSerializer

        @exactly_once
        @extend_schema(
            summary="Archive a note",
            responses={202: views.NoteSerializer},
            parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, description="Ours.")],
        )
        @action(detail=True, methods=["post"])
        def archive(self, request: Request, pk: Any = None) -> Response:
            return Response(status=202)

    @extend_schema_view(create=extend_schema(summary="Make a note"))
    class DocumentedNoteViewSet(ExactlyOnceMixin, viewsets.ModelViewSet):
        queryset = Note.objects.all()
        serializer_class = views.NoteSerializer

    @exactly_once(required=True)
    class DecoratedClassView(APIView):
        serializer_class = views.NoteSerializer

        def get(self, request: Request) -> Response:
            return Response()

        def post(self, request: Request) -> Response:
            return Response(status=201)

    router = SimpleRouter()
    router.register("documented-set", DocumentedViewSet, basename="documented-set")
    router.register("documented-notes", DocumentedNoteViewSet, basename="documented-notes")
    return [
        path("documented/", DocumentedView.as_view()),
        path("decorated-class/", DecoratedClassView.as_view()),
        *router.urls,
    ]


def test_extend_schema_on_the_same_method_is_kept_and_extended() -> None:
    operation = generate(_documented_views())["paths"]["/documented/"]["post"]
    assert key_parameter(operation)["required"] is True  # type: ignore[index]
    assert any(q["name"] == "X-Trace" for q in operation["parameters"])  # the project's own parameter
    invalid = operation["responses"]["400"]
    assert invalid["description"].startswith("Invalid note.")  # the project's description, then op_store's
    assert PROBLEM_JSON in invalid["content"]
    assert problem_types(operation)["400"] == [URN + "malformed-key", URN + "missing-key"]
    assert "Idempotent-Replayed" in operation["responses"]["201"]["headers"]


def test_extend_schema_on_an_action_under_the_decorator() -> None:
    operation = generate(_documented_views())["paths"]["/documented-set/{id}/archive/"]["post"]
    assert operation["summary"] == "Archive a note"
    assert key_parameter(operation)["description"] == "Ours."  # type: ignore[index]  # declared by the view: kept
    assert "Idempotent-Replayed" in operation["responses"]["202"]["headers"]
    assert "422" in problem_types(operation)


# --- the marker the extension reads --------------------------------------------------------------


def test_exactly_once_operations_reads_every_placement() -> None:
    router = {pattern.name: pattern.callback for pattern in urls.router.urls}
    assert set(exactly_once_operations(router["note-list"])) == {"POST"}
    assert set(exactly_once_operations(router["note-detail"])) == {"PUT", "PATCH", "DELETE"}
    assert set(exactly_once_operations(router["note-pin"])) == {"POST"}
    assert exactly_once_operations(router["note-touch"]) == {}
    assert set(exactly_once_operations(views.StampView.as_view())) == {"POST"}
    assert set(exactly_once_operations(views.RequiredNoteCreateView.as_view())) == {"POST"}
    assert set(exactly_once_operations(views.inner_fn)) == {"POST"}
    assert set(exactly_once_operations(views.outer_fn)) == {"POST", "OPTIONS"}  # around the whole view
    assert exactly_once_operations(views.PlainView.as_view()) == {}
    assert exactly_once_operations(views.RequiredNoteCreateView.as_view())["POST"].required is True


def test_the_app_config_registers_the_extension() -> None:
    """Nothing to import or configure: ``django.setup()`` with op_store installed registers it."""
    code = (
        "import sys, django\n"
        "django.setup()\n"
        "from drf_spectacular.extensions import OpenApiViewExtension\n"
        "print(sorted(e.__module__ for e in OpenApiViewExtension._registry if e.__module__.startswith('op_store')))\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['op_store.drf.schema']"


def test_extend_schema_view_with_the_mixin() -> None:
    paths = generate(_documented_views())["paths"]
    create = paths["/documented-notes/"]["post"]
    assert create["summary"] == "Make a note"
    assert key_parameter(create) is not None and "422" in problem_types(create)
    assert key_parameter(paths["/documented-notes/"]["get"]) is None


def test_a_decorated_class_documents_every_method_and_requires_keys_of_unsafe_ones_only() -> None:
    paths = generate(_documented_views())["paths"]
    assert key_parameter(paths["/decorated-class/"]["post"])["required"] is True  # type: ignore[index]
    get = paths["/decorated-class/"]["get"]
    assert key_parameter(get)["required"] is False  # type: ignore[index]  # a GET may send a key, never must
    assert "missing-key" not in str(problem_types(get)["400"])
    assert "Idempotent-Replayed" in get["responses"]["200"]["headers"]
