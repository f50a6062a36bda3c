"""The schemas admin: hashes in hex, readable declarations, who uses a schema; always read-only."""

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from op_store.admin.schemas import SchemaAdmin
from op_store.models import Schema
from op_store.vox import Concrete as VoxConcrete
from op_store.vox import FieldSchema, StructKind, primitive_schema, schema_for, schema_hash
from op_store.vox import PrimitiveType as P
from op_store.vox import Schema as VoxSchema
from tests.support.display import Point, login_client, seed

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/op_store/schema/"


@pytest.fixture
def ops():
    return seed()


@pytest.fixture
def staff_client():
    return login_client()


def _point_id():
    return schema_for(Point)[0].type_id


def test_changelist_shows_hash_kind_name_and_summary(staff_client, ops):
    response = staff_client.get(CHANGELIST)
    assert response.status_code == 200
    html = response.content.decode()
    assert f"{_point_id():016x}" in html and "struct Point" in html and "enum Result&lt;T, E&gt;" in html


@pytest.mark.parametrize(("term", "expected"), [("{hex}", {"Point"}), ("Poi", {"Point"}), ("Result", {"Result"})])
def test_search_by_hash_or_name(staff_client, ops, term, expected):
    response = staff_client.get(CHANGELIST, {"q": term.format(hex=f"{_point_id():016x}")})
    assert {s.name for s in response.context["cl"].result_list} == expected


def test_the_schema_page_shows_a_coloured_declaration_and_its_users(staff_client, ops):
    response = staff_client.get(f"{CHANGELIST}{_point_id()}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<span class="t-kw">struct</span> <span class="t-type">Point</span>' in html
    assert '<span class="t-field">x</span><span class="t-punct">: </span><span class="t-prim">i32</span>' in html
    assert "7 operations (directly or through another schema)" in html
    assert f"?schema={_point_id():016x}" in html
    assert "&quot;tag&quot;" in html  # the JSON definition, coloured
    assert b'name="_save"' not in response.content


def test_a_primitive_lists_the_schemas_that_use_it(staff_client, ops):
    i32 = primitive_schema(P.I32).id
    html = staff_client.get(f"{CHANGELIST}{i32}/change/").content.decode()
    assert f"{_point_id():016x}</code></a> struct Point" in html
    assert "operations (directly or through another schema)" in html  # every reply holding a Point


def test_an_unused_schema_says_so(staff_client, ops):
    orphan = VoxSchema(schema_hash(StructKind("Lonely", ())), StructKind("Lonely", ()))
    Schema.from_vox(orphan).save()
    html = staff_client.get(f"{CHANGELIST}{orphan.id}/change/").content.decode()
    assert "No stored operation uses it." in html


@override_settings(OP_STORE={"ADMIN_READ_ONLY": False})
def test_schemas_stay_read_only_whatever_the_setting(staff_client, ops):
    assert staff_client.get(f"{CHANGELIST}add/").status_code == 403
    assert staff_client.post(f"{CHANGELIST}{_point_id()}/change/", {"name": "x"}).status_code == 403
    assert staff_client.get(f"{CHANGELIST}{_point_id()}/delete/").status_code == 403
    assert Schema.objects.get(pk=_point_id()).name == "Point"


def test_changelist_query_count_does_not_grow_with_the_page(staff_client, monkeypatch):
    monkeypatch.setattr(SchemaAdmin, "list_per_page", 500)
    i32 = primitive_schema(P.I32)

    def add(names):
        for name in names:
            kind = StructKind(name, (FieldSchema("v", VoxConcrete(i32.id)),))
            Schema.from_vox(VoxSchema(schema_hash(kind), kind)).save()

    def queries():
        with CaptureQueriesContext(connection) as ctx:
            response = staff_client.get(CHANGELIST)
        return len(ctx.captured_queries), len(response.context["cl"].result_list)

    add(f"S{i}" for i in range(10))
    ten = queries()
    add(f"S{i}" for i in range(10, 100))
    hundred = queries()
    assert (ten[1], hundred[1]) == (10, 100)
    assert ten[0] == hundred[0]


def test_anonymous_visitors_are_sent_to_the_login_page(client, ops):
    response = client.get(CHANGELIST)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_a_schema_used_once_says_operation_in_the_singular(staff_client, db):
    from dataclasses import make_dataclass

    from op_store.store.orm import DjangoOperationStore
    from op_store.vox import I32
    from tests.support.display import seal_value

    Single = make_dataclass("Single", [("n", I32)])
    seal_value(DjangoOperationStore("once"), Single(1), Single)
    html = staff_client.get(f"{CHANGELIST}{schema_for(Single)[0].type_id}/change/").content.decode()
    assert "1 operation (directly or through another schema)" in html
