"""The operations admin: changelist (filters, search, overview, cheap counts), detail pages, actions."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from op_store.admin.operations import OperationAdmin
from op_store.models import Operation
from tests.support.display import login_client, many, seed

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/op_store/operation/"


@pytest.fixture(autouse=True)
def _fresh_overview():
    cache.clear()  # the overview is cached for 30 s
    yield
    cache.clear()


@pytest.fixture
def ops():
    return seed()


@pytest.fixture
def staff_client():
    return login_client()


@pytest.fixture
def viewer_client(django_user_model):
    """Staff with view permission only (no delete: may not release or purge)."""
    client = login_client(superuser=False, username="viewer")
    user = django_user_model.objects.get(username="viewer")
    user.user_permissions.add(Permission.objects.get(codename="view_operation"))
    return client


def _shown(client, query=""):
    response = client.get(f"{CHANGELIST}{query}")
    assert response.status_code == 200, response.status_code
    return {op.pk for op in response.context["cl"].result_list}


def test_changelist_shows_ids_in_decimal_and_hex_and_the_overview(staff_client, ops):
    response = staff_client.get(CHANGELIST)
    html = response.content.decode()
    op = ops["enum"]
    assert f">{op.operation_id}<" in html and f"{op.operation_id:016x}" in html
    assert op.key in html and "Demo.get" in html
    assert 'class="ops-state ops-state-stale"' in html  # the admitted operation whose lease ran out
    overview = response.context["overview"]
    assert {s["state"]: s["count"] for s in overview["states"]} == {"admitted": 2, "sealed": 13, "expired": 1}
    assert overview["stale"] == 1
    assert html.count('<rect class="ops-bar"') == 24 and "<svg" in html
    assert "<script" not in html.split('id="ops-overview"')[1].split("</div>\n</div>")[0]
    assert "Purge expired" in html


def test_filter_by_state_lease_method_and_date(staff_client, ops):
    admitted = {ops["admitted"].pk, ops["stale"].pk}
    assert _shown(staff_client, "?state__exact=admitted") == admitted
    assert _shown(staff_client, "?state__exact=expired") == {ops["expired"].pk}
    assert _shown(staff_client, "?lease=expired") == {ops["stale"].pk}
    assert _shown(staff_client, "?lease=live") == {ops["admitted"].pk}
    posted = {ops[n].pk for n in ("http_json", "http_text", "http_binary", "admitted", "stale")}
    assert _shown(staff_client, "?method=POST") == posted
    Operation.objects.filter(pk=ops["struct"].pk).update(created_at=timezone.now() - timedelta(days=40))
    from urllib.parse import urlencode

    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    query = urlencode({"created_at__gte": str(today), "created_at__lt": str(today + timedelta(days=1))})
    shown = _shown(staff_client, f"?{query}")
    assert ops["struct"].pk not in shown and ops["enum"].pk in shown


def test_method_choices_come_from_recent_rows(staff_client, ops):
    response = staff_client.get(CHANGELIST)
    spec = next(f for f in response.context["cl"].filter_specs if getattr(f, "parameter_name", "") == "method")
    assert [value for value, _ in spec.lookup_choices] == ["Demo.get", "POST"]


def test_filter_by_schema_use(staff_client, ops):
    from op_store.vox import schema_for
    from tests.support.display import Point

    point = f"{schema_for(Point)[0].type_id:016x}"
    shown = _shown(staff_client, f"?schema={point}")
    uses_point = {"struct", "list", "option_none", "option_some", "result", "result_ok", "corrupt"}
    assert shown == {ops[n].pk for n in uses_point}
    assert _shown(staff_client, "?schema=zz") == set()


@pytest.mark.parametrize(
    ("term", "names"),
    [
        ("{id}", ["enum"]),
        ("{hex16}", ["enum"]),
        ("{HEX16}", ["enum"]),
        ("0x{hex}", ["enum"]),
        ("http-", ["http_json", "http_text", "http_binary"]),
        ("no-such-key", []),
    ],
)
def test_search_by_id_in_decimal_or_hex_or_by_key(staff_client, ops, term, names):
    op = ops["enum"]
    hex16 = f"{op.operation_id:016x}"
    query = term.format(id=op.operation_id, hex16=hex16, HEX16=hex16.upper(), hex=f"{op.operation_id:x}")
    assert _shown(staff_client, f"?q={query}") == {ops[n].pk for n in names}


def test_the_changelist_never_counts_the_whole_table(staff_client, ops):
    staff_client.get(CHANGELIST)  # warms the overview cache (its aggregates run every 30 s at most)
    with CaptureQueriesContext(connection) as ctx:
        assert staff_client.get(f"{CHANGELIST}?state__exact=sealed").status_code == 200
    counts = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts, "the paginator counts (bounded)"
    assert all("LIMIT" in sql.upper() for sql in counts), counts


def test_list_rows_do_not_load_payloads(staff_client, ops):
    """Only the payload's first byte is read (it tells Ok from Err), never the payload itself."""
    with CaptureQueriesContext(connection) as ctx:
        staff_client.get(CHANGELIST)
    rows = [q["sql"] for q in ctx.captured_queries if "ORDER BY" in q["sql"] and "op_store_operation" in q["sql"]]
    qn = connection.ops.quote_name  # "name" on PostgreSQL and SQLite, `name` on MySQL
    response = f"{qn('op_store_operation')}.{qn('response')}"
    first_byte = re.compile(rf"SUBSTR(?:ING)?\({re.escape(response)}, 1, 1\)", re.IGNORECASE)
    assert rows and any(first_byte.search(sql) for sql in rows)
    assert not any(response in first_byte.sub("", sql) for sql in rows)


def test_changelist_query_count_does_not_grow_with_the_page(staff_client, monkeypatch):
    monkeypatch.setattr(OperationAdmin, "list_per_page", 500)

    def queries():
        cache.clear()
        with CaptureQueriesContext(connection) as ctx:
            response = staff_client.get(CHANGELIST)
        assert response.status_code == 200
        return len(ctx.captured_queries), len(response.context["cl"].result_list)

    many(10)
    ten, shown_ten = queries()
    many(90)
    hundred, shown_hundred = queries()
    assert (shown_ten, shown_hundred) == (10, 100)
    assert ten == hundred


KINDS = [
    "struct", "enum", "list", "map", "option_none", "option_some", "result", "result_ok",
    "http_json", "http_text", "http_binary", "admitted", "stale", "expired", "corrupt", "missing_schema",
]  # fmt: skip


@pytest.mark.parametrize("name", KINDS)
def test_every_operation_page_renders(staff_client, ops, name):
    response = staff_client.get(f"{CHANGELIST}{ops[name].pk}/change/")
    assert response.status_code == 200
    assert b'name="_save"' not in response.content  # read-only by default


def _page(client, op):
    response = client.get(f"{CHANGELIST}{op.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def test_a_struct_is_shown_as_coloured_json_with_its_type_and_schemas(staff_client, ops):
    html = _page(staff_client, ops["struct"])
    assert '<span class="j-key">&quot;x&quot;</span><span class="j-punct">: </span><span class="j-num">3</span>' in html
    assert "<code>Point</code>" in html
    root = ops["struct"].root_type_ref.type_id
    assert reverse("admin:op_store_schema_change", args=[root]) in html
    assert '<span class="t-kw">struct</span>' in html


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("enum", "&quot;Rect&quot;"),
        ("list", '<span class="j-num">5</span>'),
        ("map", "&quot;apples&quot;"),
        ("option_none", '<pre class="ops-code ops-value"><span class="j-null">null</span></pre>'),
        ("result", "&quot;out of stock&quot;"),
    ],
)
def test_enum_list_map_option_and_result_values(staff_client, ops, name, fragment):
    assert fragment in _page(staff_client, ops[name])


def test_http_replies_show_status_headers_and_a_pretty_body(staff_client, ops):
    html = _page(staff_client, ops["http_json"])
    assert '<span class="ops-status-2">201 Created</span>' in html
    assert "<th>Content-Type</th><td>application/json</td>" in html
    assert '<pre class="ops-code ops-body-json">' in html and "&quot;paid&quot;" in html
    text = _page(staff_client, ops["http_text"])
    assert "404 Not Found" in text and '<pre class="ops-code ops-wrap ops-body-text">no such order</pre>' in text
    binary = _page(staff_client, ops["http_binary"])
    assert "AP8Q" in binary and "Binary body, 3 bytes" in binary


def test_a_corrupt_payload_shows_the_error_next_to_the_hex(staff_client, ops):
    html = _page(staff_client, ops["corrupt"])
    assert "Cannot decode this payload" in html and "varint" in html
    assert '<pre class="ops-code ops-wrap ops-hex">ffffffffffffffffffffff07</pre>' in html


def test_a_missing_schema_shows_the_error_next_to_the_hex(staff_client, ops):
    html = _page(staff_client, ops["missing_schema"])
    assert "is missing from the store" in html and "missing from the store</span>" in html
    hex_bytes = bytes(Operation.objects.get(pk=ops["missing_schema"].pk).response).hex()
    assert f'<pre class="ops-code ops-wrap ops-hex">{hex_bytes}</pre>' in html


def test_unsealed_operations_say_why_there_is_no_response(staff_client, ops):
    assert "Not sealed yet" in _page(staff_client, ops["admitted"])
    stale = _page(staff_client, ops["stale"])
    assert "expired: the owner may be gone" in stale
    assert "Purged" in _page(staff_client, ops["expired"])


def test_read_only_by_default(staff_client, ops):
    op = ops["struct"]
    assert staff_client.get(f"{CHANGELIST}add/").status_code == 403
    assert staff_client.post(f"{CHANGELIST}{op.pk}/change/", {"method": "x"}).status_code == 403
    assert staff_client.get(f"{CHANGELIST}{op.pk}/delete/").status_code == 403
    actions = staff_client.get(CHANGELIST).context["action_form"].fields["action"].choices
    assert [name for name, _ in actions] == ["", "release_admitted"]
    assert Operation.objects.get(pk=op.pk).method == "Demo.get"


@override_settings(OP_STORE={"ADMIN_READ_ONLY": False})
def test_edits_come_back_when_the_setting_says_so(staff_client, ops):
    op = ops["struct"]
    html = _page(staff_client, op)
    assert 'name="_save"' in html and 'name="method"' in html
    assert staff_client.get(f"{CHANGELIST}{op.pk}/delete/").status_code == 200
    actions = staff_client.get(CHANGELIST).context["action_form"].fields["action"].choices
    assert "delete_selected" in [name for name, _ in actions]


def test_release_action_removes_only_admitted_operations(staff_client, ops):
    picked = [ops["admitted"].pk, ops["stale"].pk, ops["struct"].pk, ops["expired"].pk]
    response = staff_client.post(
        CHANGELIST, {"action": "release_admitted", "_selected_action": picked, "index": 0}, follow=True
    )
    assert response.status_code == 200
    assert set(Operation.objects.filter(pk__in=picked).values_list("pk", flat=True)) == {
        ops["struct"].pk,
        ops["expired"].pk,
    }
    messages = [str(m) for m in response.context["messages"]]
    assert "Released 2 admitted operations." in messages
    assert "2 selected operations were not admitted and were left alone." in messages


def test_viewers_can_browse_but_not_release_or_purge(viewer_client, ops):
    assert viewer_client.get(CHANGELIST).status_code == 200
    assert viewer_client.get(f"{CHANGELIST}{ops['http_json'].pk}/change/").status_code == 200
    response = viewer_client.get(CHANGELIST)
    assert response.context["action_form"] is None or "release_admitted" not in dict(
        response.context["action_form"].fields["action"].choices
    )
    assert "Purge expired" not in response.content.decode()
    viewer_client.post(CHANGELIST, {"action": "release_admitted", "_selected_action": [ops["admitted"].pk]})
    assert Operation.objects.filter(pk=ops["admitted"].pk).exists()
    assert viewer_client.get(f"{CHANGELIST}purge/").status_code == 403
    assert viewer_client.post(f"{CHANGELIST}purge/").status_code == 403


def test_purge_shows_what_is_due_then_runs_the_stores_purge(staff_client, ops):
    past = timezone.now() - timedelta(minutes=1)
    Operation.objects.filter(pk__in=[ops["struct"].pk, ops["enum"].pk]).update(expires_at=past)
    Operation.objects.filter(pk=ops["expired"].pk).update(expires_at=past)
    page = staff_client.get(f"{CHANGELIST}purge/")
    assert page.status_code == 200 and page.context["due"] == {"sealed": 2, "tombstones": 1}
    assert Operation.objects.get(pk=ops["struct"].pk).state == "sealed"
    response = staff_client.post(f"{CHANGELIST}purge/", follow=True)
    assert response.redirect_chain[-1][0] == CHANGELIST
    assert Operation.objects.get(pk=ops["struct"].pk).state == "expired"
    assert not Operation.objects.filter(pk=ops["expired"].pk).exists()
    purged = "Purged: 2 sealed replies became tombstones, 1 tombstone was deleted."
    assert purged in [str(m) for m in response.context["messages"]]


def test_anonymous_visitors_are_sent_to_the_login_page(client, ops):
    for path in (CHANGELIST, f"{CHANGELIST}{ops['struct'].pk}/change/", f"{CHANGELIST}purge/"):
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_past_the_cap_the_count_is_marked_as_an_estimate(staff_client, ops, monkeypatch):
    from op_store.admin.pagination import EstimatedCountPaginator

    monkeypatch.setattr(EstimatedCountPaginator, "cap", 3)
    response = staff_client.get(CHANGELIST)
    assert response.context["result_count_is_estimate"] is True
    assert "More than 3 operations match" in response.content.decode()


def _row(html, op):
    """The changelist row of ``op`` (from its hex id link to the end of the row)."""
    start = html.index(f"{op.operation_id:016x}")
    return html[start : html.index("</tr>", start)]


def test_the_list_shows_ok_err_and_http_status_at_a_glance(staff_client, ops):
    html = staff_client.get(CHANGELIST).content.decode()
    assert '<span class="ops-reply ops-reply-err">Err</span>' in _row(html, ops["result"])
    assert '<span class="ops-reply ops-reply-ok">Ok</span>' in _row(html, ops["result_ok"])
    assert '<span class="ops-reply ops-reply-err">404</span>' in _row(html, ops["http_text"])
    assert '<span class="ops-reply ops-reply-ok">201</span>' in _row(html, ops["http_json"])
    assert "ops-reply" not in _row(html, ops["struct"]) and "ops-reply" not in _row(html, ops["stale"])


def test_an_err_reply_is_marked_as_an_error_on_its_page(staff_client, ops):
    html = _page(staff_client, ops["result"])
    assert "ops-response-err" in html and "ops-err-banner" in html
    ok = _page(staff_client, ops["result_ok"])
    assert "ops-response-err" not in ok and "ops-err-banner" not in ok


def test_the_detail_page_gives_timestamps_to_the_second(staff_client, ops):
    from datetime import UTC, datetime

    moment = datetime(2026, 5, 1, 14, 3, 9, tzinfo=UTC)
    Operation.objects.filter(pk=ops["struct"].pk).update(created_at=moment, sealed_at=moment.replace(second=10))
    html = _page(staff_client, ops["struct"])
    assert "2026-05-01 14:03:09 UTC" in html and "2026-05-01 14:03:10 UTC" in html


@pytest.mark.parametrize(("size", "text"), [(1, "1 byte of postcard"), (3, "3 bytes of postcard")])
def test_sizes_are_pluralized(staff_client, ops, size, text):
    from op_store.vox import encode, schema_for

    op = ops["struct"]
    root, _ = schema_for(bool)
    Operation.objects.filter(pk=op.pk).update(response=encode(True, bool)[:1] * size, root_type=root.to_json())
    assert text in _page(staff_client, op)


def test_a_live_lease_counts_its_seconds_in_the_singular_too(staff_client, ops):
    Operation.objects.filter(pk=ops["admitted"].pk).update(lease_expires_at=timezone.now() + timedelta(seconds=1.5))
    assert "live for 1 more second<" in _page(staff_client, ops["admitted"])


def test_long_scopes_and_keys_are_shortened_in_the_list(staff_client):
    from op_store.store.orm import DjangoOperationStore

    DjangoOperationStore("tenant-" + "x" * 100).try_admit(1, key="k" * 255)
    html = staff_client.get(CHANGELIST).content.decode()
    assert f'<td class="field-key_column">{"k" * 31}…</td>' in html
    assert f'<td class="field-scope_column">tenant-{"x" * 24}…</td>' in html
