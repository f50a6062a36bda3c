"""operations/: filters, cursor pagination, the decoded detail, release, and constant query counts."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from op_store.models import Operation
from tests.support.display import login_client, many, seed

pytestmark = pytest.mark.django_db

URL = "/api/op-store/operations/"
PROBLEM = "application/problem+json"


@pytest.fixture
def ops():
    return seed()


@pytest.fixture
def staff_client():
    return login_client()


def _ids(response):
    assert response.status_code == 200, response.content[:500]
    return {row["id"] for row in response.json()["results"]}


def _all_pages(client, url):
    rows, pages = [], 0
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content[:300]
        body = response.json()
        rows += body["results"]
        url = body["next"]
        pages += 1
    return rows, pages


def test_list_rows_carry_ids_in_decimal_and_hex_and_no_payload(staff_client, ops):
    body = staff_client.get(URL).json()
    assert set(body) == {"next", "previous", "results"}
    row = next(r for r in body["results"] if r["id"] == ops["struct"].pk)
    assert row["operation_id"] == str(ops["struct"].operation_id)
    assert row["operation_id_hex"] == f"{ops['struct'].operation_id:016x}"
    assert row["url"].endswith(f"{URL}{ops['struct'].pk}/")
    assert row["state"] == "sealed" and row["scope"] == "alice" and row["method"] == "Demo.get"
    assert "response" not in row and "fingerprint" not in row


def test_u64_operation_ids_survive_as_strings(staff_client):
    from op_store.store.orm import DjangoOperationStore

    DjangoOperationStore("big").admit(2**64 - 1)
    row = staff_client.get(URL, {"scope": "big"}).json()["results"][0]
    assert row["operation_id"] == "18446744073709551615" and row["operation_id_hex"] == "ffffffffffffffff"
    assert _ids(staff_client.get(URL, {"operation_id": "0xffffffffffffffff"})) == {row["id"]}


def test_filter_by_state(staff_client, ops):
    admitted = {ops["admitted"].pk, ops["stale"].pk}
    assert _ids(staff_client.get(URL, {"state": "admitted"})) == admitted
    assert _ids(staff_client.get(URL, {"state": "expired"})) == {ops["expired"].pk}
    both = _ids(staff_client.get(URL, {"state": "admitted,expired"}))
    assert both == admitted | {ops["expired"].pk}
    assert _ids(staff_client.get(f"{URL}?state=admitted&state=expired")) == both
    assert ops["struct"].pk in _ids(staff_client.get(URL, {"state": "sealed"}))


def test_filter_by_scope_method_key_and_id(staff_client, ops):
    seed("bob")
    assert len(_ids(staff_client.get(URL, {"scope": "bob", "page_size": 100}))) == len(ops)
    assert _ids(staff_client.get(URL, {"scope": "nobody"})) == set()
    assert _ids(staff_client.get(URL, {"scope": "alice", "method": "POST"})) == {
        ops[name].pk for name in ("http_json", "http_text", "http_binary", "admitted", "stale")
    }
    op = ops["enum"]
    assert _ids(staff_client.get(URL, {"scope": "alice", "key": op.key})) == {op.pk}
    assert _ids(staff_client.get(URL, {"scope": "alice", "operation_id": str(op.operation_id)})) == {op.pk}
    assert _ids(staff_client.get(URL, {"scope": "alice", "operation_id": hex(op.operation_id)})) == {op.pk}


def test_an_operation_id_past_u64_matches_nothing(staff_client, ops):
    assert _ids(staff_client.get(URL, {"operation_id": str(2**64)})) == set()


def test_filter_by_age(staff_client, ops):
    old = ops["struct"]
    Operation.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    assert _ids(staff_client.get(URL, {"older_than": 86400})) == {old.pk}
    cutoff = (timezone.now() - timedelta(days=1)).isoformat()
    assert _ids(staff_client.get(URL, {"created_before": cutoff})) == {old.pk}
    assert old.pk not in _ids(staff_client.get(URL, {"created_after": cutoff, "page_size": 100}))
    assert len(_ids(staff_client.get(URL, {"created_after": cutoff, "page_size": 100}))) == len(ops) - 1


def test_filter_by_lease_expired(staff_client, ops):
    assert _ids(staff_client.get(URL, {"lease_expired": "true"})) == {ops["stale"].pk}
    not_stale = _ids(staff_client.get(URL, {"lease_expired": "false", "page_size": 100}))
    assert ops["stale"].pk not in not_stale and ops["admitted"].pk in not_stale


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"state": "done"}, "state"),
        ({"state": ""}, "state"),
        ({"operation_id": "-1"}, "operation_id"),
        ({"operation_id": "0xzz"}, "operation_id"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"older_than": "-5"}, "older_than"),
        ({"lease_expired": "maybe"}, "lease_expired"),
    ],
)
def test_bad_filters_are_400_problems(staff_client, ops, params, field):
    response = staff_client.get(URL, params)
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["code"] == "invalid" and body["status"] == 400 and field in body["errors"]


def test_cursor_pagination_walks_every_row_once_newest_first(staff_client, ops):
    rows, pages = _all_pages(staff_client, f"{URL}?page_size=4")
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)) == Operation.objects.count()
    assert ids == sorted(ids, reverse=True)
    assert pages == -(-len(ids) // 4)
    first = staff_client.get(URL, {"page_size": 4}).json()
    second = staff_client.get(first["next"]).json()
    back = staff_client.get(second["previous"]).json()
    assert [r["id"] for r in back["results"]] == [r["id"] for r in first["results"]]


def test_page_size_is_checked_and_bad_cursors_are_404_problems(staff_client, ops):
    assert len(staff_client.get(URL, {"page_size": 500}).json()["results"]) == len(ops)
    for bad in ("501", "0", "-1", "ten"):
        response = staff_client.get(URL, {"page_size": bad})
        assert response.status_code == 400 and response.json()["errors"] == {"page_size": ["an integer in 1..500"]}
    response = staff_client.get(URL, {"cursor": "not-a-cursor"})
    assert response.status_code == 404 and response["Content-Type"] == PROBLEM


@pytest.mark.parametrize(
    ("name", "type_name", "value"),
    [
        ("struct", "Point", {"x": 3, "y": -4}),
        ("enum", "Shape", {"variant": "Rect", "value": {"w": 3, "h": 4}}),
        ("list", "Vec<Point>", [{"x": 1, "y": 2}, {"x": 5, "y": 6}]),
        ("map", "HashMap<String, i64>", {"apples": 3, "pears": 0}),
        ("option_none", "Option<Point>", None),
        ("option_some", "Option<Point>", {"x": 7, "y": 8}),
        ("result", "Result<Point, String>", {"variant": "Err", "value": "out of stock"}),
    ],
)
def test_detail_decodes_values_through_the_stored_schemas(staff_client, ops, name, type_name, value):
    body = staff_client.get(f"{URL}{ops[name].pk}/").json()
    assert body["type"] == type_name
    response = body["response"]
    assert response["kind"] == "value" and response["error"] is None and response["value"] == value
    assert response["size"] == ops[name].response_size
    assert "hex" not in response
    assert body["root_type"] == ops[name].root_type
    assert body["schemas"] and all(not s["missing"] for s in body["schemas"])
    assert all(s["url"].endswith(f"/schemas/{s['id']}/") for s in body["schemas"])
    assert body["fingerprint"] == ops[name].fingerprint_hex


def test_detail_shows_http_replies_as_status_headers_and_body(staff_client, ops):
    body = staff_client.get(f"{URL}{ops['http_json'].pk}/").json()
    assert body["type"] == "HttpReply" and body["status_code"] == 201
    http = body["response"]["http"]
    assert body["response"]["kind"] == "http"
    assert (http["status"], http["reason"]) == (201, "Created")
    assert http["headers"] == [["Content-Type", "application/json"]]
    assert http["body"]["encoding"] == "json" and http["body"]["value"] == {"order": 42, "paid": True}
    text = staff_client.get(f"{URL}{ops['http_text'].pk}/").json()["response"]["http"]
    assert text["status"] == 404 and text["body"] == {
        "encoding": "text",
        "content_type": "text/plain; charset=utf-8",
        "size": 13,
        "value": "no such order",
    }
    binary = staff_client.get(f"{URL}{ops['http_binary'].pk}/").json()["response"]["http"]
    assert binary["body"]["encoding"] == "base64" and binary["body"]["value"] == "AP8Q"


def test_a_corrupt_payload_is_an_error_with_the_hex_not_a_500(staff_client, ops):
    response = staff_client.get(f"{URL}{ops['corrupt'].pk}/")
    assert response.status_code == 200
    decoded = response.json()["response"]
    assert decoded["kind"] == "error" and decoded["error"]["type"] == "decode_error"
    assert decoded["hex"] == "ffffffffffffffffffffff07" and decoded["value"] is None


def test_a_missing_schema_is_an_error_with_the_hex_not_a_500(staff_client, ops):
    response = staff_client.get(f"{URL}{ops['missing_schema'].pk}/")
    assert response.status_code == 200
    body = response.json()
    assert body["response"]["error"]["type"] == "missing_schema"
    assert body["response"]["hex"] == bytes(Operation.objects.get(pk=ops["missing_schema"].pk).response).hex()
    assert [s["missing"] for s in body["schemas"]].count(True) == 1


def test_detail_of_unsealed_operations_has_no_response(staff_client, ops):
    for name in ("admitted", "stale", "expired"):
        body = staff_client.get(f"{URL}{ops[name].pk}/").json()
        assert body["response"] is None and body["schemas"] == [] and body["type"] is None
    assert staff_client.get(f"{URL}{ops['stale'].pk}/").json()["lease_expired"] is True


def test_unknown_operations_are_404_problems(staff_client, ops):
    response = staff_client.get(f"{URL}999999/")
    assert response.status_code == 404 and response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "not-found"


def test_delete_releases_an_admitted_operation(staff_client, ops):
    response = staff_client.delete(f"{URL}{ops['stale'].pk}/")
    assert response.status_code == 204
    assert not Operation.objects.filter(pk=ops["stale"].pk).exists()
    assert staff_client.delete(f"{URL}{ops['stale'].pk}/").status_code == 404


@pytest.mark.parametrize("name", ["struct", "http_json", "expired"])
def test_delete_refuses_sealed_and_expired_operations_with_409(staff_client, ops, name):
    response = staff_client.delete(f"{URL}{ops[name].pk}/")
    assert response.status_code == 409 and response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "not-admitted"
    assert Operation.objects.filter(pk=ops[name].pk).exists()


def _queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries), ctx.captured_queries


def test_list_query_count_does_not_grow_with_the_page(staff_client):
    many(10, scope="ten")
    many(100, scope="hundred")
    ten, _ = _queries(staff_client, f"{URL}?scope=ten&page_size=500")
    hundred, queries = _queries(staff_client, f"{URL}?scope=hundred&page_size=500")
    assert len(staff_client.get(f"{URL}?scope=hundred&page_size=500").json()["results"]) == 100
    assert ten == hundred, [q["sql"] for q in queries]
    assert not any("COUNT(" in q["sql"].upper() for q in queries)
    assert not any('"response"' in q["sql"] for q in queries if "op_store_operation" in q["sql"])


def test_delete_of_a_row_sealed_meanwhile_is_a_409(staff_client, ops, monkeypatch):
    from op_store.store.orm import DjangoOperationStore

    def seal_instead(self, operation_id):  # the handler seals between the read and the release
        Operation.objects.filter(scope=self.scope, operation_id=operation_id).update(state="sealed")

    monkeypatch.setattr(DjangoOperationStore, "remove", seal_instead)
    response = staff_client.delete(f"{URL}{ops['stale'].pk}/")
    assert response.status_code == 409 and response.json()["detail"] == "the operation was sealed while being released"


def test_delete_of_a_row_being_sealed_is_a_409_and_keeps_it(staff_client, ops, monkeypatch):
    from op_store.store.orm import DjangoOperationStore

    monkeypatch.setattr(DjangoOperationStore, "remove", lambda self, operation_id: None)  # row locked: skipped
    response = staff_client.delete(f"{URL}{ops['stale'].pk}/")
    assert response.status_code == 409 and response.json()["code"] == "not-admitted"
    assert Operation.objects.filter(pk=ops["stale"].pk).exists()
