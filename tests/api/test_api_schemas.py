"""schemas/, the remote SchemaSource client, stats/ and purge/."""

import base64
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from op_store.api.client import RemoteSchemaSource, SchemaFetchError
from op_store.models import Operation, Schema
from op_store.vox import Schema as VoxSchema
from op_store.vox import decode_ref, encode, schema_for
from tests.support.display import Point, Shape, login_client, many, seed

pytestmark = pytest.mark.django_db

URL = "/api/op-store/schemas/"
PROBLEM = "application/problem+json"


@pytest.fixture
def ops():
    return seed()


@pytest.fixture
def staff_client():
    return login_client()


def test_list_shows_hash_kind_name_and_summary(staff_client, ops):
    body = staff_client.get(URL, {"page_size": 500}).json()
    rows = {row["id"]: row for row in body["results"]}
    assert len(rows) == Schema.objects.count()
    point = rows[f"{schema_for(Point)[0].type_id:016x}"]
    assert point["kind"] == "struct" and point["name"] == "Point" and point["summary"] == "struct Point"
    assert point["url"].endswith(f"{URL}{point['id']}/")
    result = next(r for r in rows.values() if r["name"] == "Result")
    assert result["type_params"] == ["T", "E"] and result["summary"] == "enum Result<T, E>"


def test_list_filters_and_paginates(staff_client, ops):
    kinds = {row["kind"] for row in staff_client.get(URL, {"kind": "primitive", "page_size": 500}).json()["results"]}
    assert kinds == {"primitive"}
    names = [row["name"] for row in staff_client.get(URL, {"name": "Poi"}).json()["results"]]
    assert names == ["Point"]
    assert staff_client.get(URL, {"kind": "blob"}).status_code == 400
    seen, url = [], f"{URL}?page_size=3"
    while url:
        body = staff_client.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert len(seen) == len(set(seen)) == Schema.objects.count()


@pytest.mark.parametrize("tp", [Point, Shape, list[Point], dict[str, int]])
def test_detail_round_trips_through_schema_from_json(staff_client, ops, tp):
    _, registry = schema_for(tp)
    for schema in registry.values():
        response = staff_client.get(f"{URL}{schema.id:016x}/")
        assert response.status_code == 200
        body = response.json()
        assert VoxSchema.from_json(body) == schema
        assert body["id"] == f"{schema.id:016x}" and body["declaration"]
    point = staff_client.get(f"{URL}{schema_for(Point)[0].type_id:016X}/").json()  # upper-case hex works too
    assert point["declaration"] == "struct Point { x: i32, y: i32 }"


def test_unknown_and_malformed_hashes_are_404_problems(staff_client, ops):
    for path in (f"{URL}{'0' * 16}/", f"{URL}1234/", f"{URL}{'g' * 16}/", f"{URL}{'1' * 17}/"):
        response = staff_client.get(path)
        assert response.status_code == 404, path
        assert response["Content-Type"] == PROBLEM and response.json()["code"] == "not-found"


def test_remote_schema_source_over_the_api_decodes_like_the_store(staff_client, ops):
    source = RemoteSchemaSource("http://testserver/api/op-store/", session=staff_client)
    root, _ = schema_for(list[Point])
    data = encode([Point(1, 2)], list[Point])
    assert decode_ref(data, root, source) == [{"x": 1, "y": 2}]
    assert source.get_schema(0) is None
    with CaptureQueriesContext(connection) as ctx:  # cached: no more requests
        assert decode_ref(data, root, source) == [{"x": 1, "y": 2}]
    assert not ctx.captured_queries


def test_remote_schema_source_reports_refusals():
    source = RemoteSchemaSource("http://testserver/api/op-store", session=login_client(staff=False, superuser=False))
    with pytest.raises(SchemaFetchError, match="403"):
        source.get_schema(schema_for(Point)[0].type_id)


@pytest.mark.django_db(transaction=True)
@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])  # one hash per request
def test_remote_schema_source_over_http_with_urllib(live_server, django_user_model):
    from op_store.store.orm import DjangoOperationStore

    django_user_model.objects.create_superuser("admin", "", "password")

    tp = dict[str, list[Point]]
    root, registry = schema_for(tp)
    data = encode({"a": [Point(1, 2)]}, tp)
    DjangoOperationStore("remote").seal(1, data, root, registry)
    token = base64.b64encode(b"admin:password").decode()
    source = RemoteSchemaSource(f"{live_server.url}/api/op-store/", headers={"Authorization": f"Basic {token}"})
    assert decode_ref(data, root, source) == {"a": [{"x": 1, "y": 2}]}
    assert source.get_schema(0) is None
    anonymous = RemoteSchemaSource(f"{live_server.url}/api/op-store/")
    with pytest.raises(SchemaFetchError):
        anonymous.get_schema(root.type_id)


def test_stats_counts_states_bytes_and_schemas(staff_client, ops):
    body = staff_client.get("/api/op-store/stats/").json()
    assert body["operations"] == {"admitted": 2, "sealed": len(ops) - 3, "expired": 1}
    assert body["total"] == len(ops) and body["stale"] == 1
    assert body["schemas"] == Schema.objects.count()
    sealed = Operation.objects.filter(state="sealed")
    assert body["response_bytes"] == sum(op.response_size for op in sealed)


def test_purge_runs_the_stores_purge(staff_client, ops):
    Operation.objects.filter(pk=ops["struct"].pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    Operation.objects.filter(pk=ops["expired"].pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    dry = staff_client.post("/api/op-store/purge/", {"dry_run": True}, content_type="application/json").json()
    assert (dry["expired"], dry["deleted"], dry["dry_run"]) == (1, 1, True)
    assert Operation.objects.get(pk=ops["struct"].pk).state == "sealed"
    done = staff_client.post("/api/op-store/purge/", {}, content_type="application/json").json()
    assert (done["expired"], done["deleted"], done["dry_run"]) == (1, 1, False)
    assert Operation.objects.get(pk=ops["struct"].pk).state == "expired"
    assert not Operation.objects.filter(pk=ops["expired"].pk).exists()
    again = staff_client.generic("POST", "/api/op-store/purge/").json()  # no body at all (curl -X POST)
    assert (again["expired"], again["deleted"]) == (0, 0)


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ('{"dry_run": "perhaps"}', "application/json", 400),
        ("[1, 2]", "application/json", 400),
        ("{not json", "application/json", 400),
        ("dry_run=1", "application/x-www-form-urlencoded", 415),
    ],
)
def test_bad_purge_bodies_are_problems(staff_client, body, content_type, status):
    response = staff_client.post("/api/op-store/purge/", body, content_type=content_type)
    assert response.status_code == status
    assert response["Content-Type"] == PROBLEM and response.json()["status"] == status


def test_schema_list_query_count_does_not_grow_with_the_page(staff_client):
    def count(n):
        many(n, scope=f"s{n}")
        with CaptureQueriesContext(connection) as ctx:
            assert staff_client.get(URL, {"page_size": 500}).status_code == 200
        return len(ctx.captured_queries)

    assert count(10) == count(100)


def test_the_schema_body_is_the_shared_schema_document(staff_client, ops):
    """One representation for every endpoint serving schemas by hash; the OpenAPI serializer
    documents exactly its keys."""
    from op_store.api.serializers import SchemaDefinitionSerializer
    from op_store.schema_json import schema_document

    root, registry = schema_for(Point)
    point = registry[root.type_id]
    body = staff_client.get(f"{URL}{root.type_id:016x}/").json()
    assert body == {**point.to_json(), "declaration": "struct Point { x: i32, y: i32 }"}
    assert body == schema_document(point, registry)
    assert set(body) == set(SchemaDefinitionSerializer().fields)


def test_schema_definition_still_works_but_is_deprecated(ops):
    from op_store.api.serializers import schema_definition

    root, _ = schema_for(Point)
    with pytest.warns(DeprecationWarning, match="schema_document"):
        body = schema_definition(Schema.objects.get(pk=root.type_id))
    assert body["declaration"] == "struct Point { x: i32, y: i32 }" and VoxSchema.from_json(body).id == root.type_id


def test_stats_and_purge_bodies_have_exactly_the_documented_keys(staff_client, ops):
    stats = staff_client.get("/api/op-store/stats/").json()
    assert set(stats) == {
        "database", "operations", "total", "stale", "expired_due", "tombstones_due", "response_bytes", "schemas",
    }  # fmt: skip
    purged = staff_client.post("/api/op-store/purge/", {"dry_run": True}, content_type="application/json").json()
    assert set(purged) == {"expired", "deleted", "batches", "duration", "dry_run"}
    root = staff_client.get("/api/op-store/").json()
    assert set(root) == {"operations", "schemas", "stats", "purge", "schema", "docs", "redoc"}
    assert root["stats"] == "http://testserver/api/op-store/stats/"
