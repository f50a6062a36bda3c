"""Releasing admissions: the queryset operation behind the admin and the API, the release button on
an admitted operation's page, and the bulk action's limit."""

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache

from op_store.admin import operations as admin_operations
from op_store.models import Operation, ReleaseResult
from op_store.store.orm import DjangoOperationStore
from tests.support.display import login_client, seed

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/op_store/operation/"


@pytest.fixture(autouse=True)
def _fresh_overview():
    cache.clear()
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
    """Staff with view permission only: may browse, may not release."""
    client = login_client(superuser=False, username="viewer")
    user = django_user_model.objects.get(username="viewer")
    user.user_permissions.add(Permission.objects.get(codename="view_operation"))
    return client


def test_release_admitted_counts_what_happened_to_each_id(ops):
    ids = [ops["admitted"].pk, ops["stale"].pk, ops["struct"].pk, ops["expired"].pk, 999_999]
    result = Operation.objects.release_admitted(ids)
    assert result == ReleaseResult(released=2, not_admitted=2, busy=0, missing=1)
    assert set(Operation.objects.filter(pk__in=ids).values_list("pk", flat=True)) == {
        ops["struct"].pk,
        ops["expired"].pk,
    }


def test_release_admitted_only_sees_rows_of_its_queryset(ops):
    result = Operation.objects.filter(scope="someone-else").release_admitted([ops["stale"].pk])
    assert result == ReleaseResult(missing=1)
    assert Operation.objects.filter(pk=ops["stale"].pk).exists()


def test_a_row_the_store_did_not_remove_is_busy_and_kept(ops, monkeypatch):
    monkeypatch.setattr(DjangoOperationStore, "remove", lambda self, operation_id: None)
    result = Operation.objects.release_admitted([ops["stale"].pk])
    assert result == ReleaseResult(busy=1)
    assert Operation.objects.get(pk=ops["stale"].pk).state == "admitted"


def test_release_goes_through_the_store_and_its_signal(ops):
    from op_store.signals import operation_removed

    seen = []

    def receiver(sender, scope, operation_id, reason, **kwargs):
        seen.append((scope, operation_id, reason))

    operation_removed.connect(receiver)
    try:
        Operation.objects.release_admitted([ops["stale"].pk, ops["struct"].pk])
    finally:
        operation_removed.disconnect(receiver)
    assert seen == [("alice", ops["stale"].operation_id, "remove")]


def _release_url(op):
    return f"{CHANGELIST}{op.pk}/release/"


def test_an_admitted_operations_page_has_a_release_button(staff_client, ops):
    html = staff_client.get(f"{CHANGELIST}{ops['stale'].pk}/change/").content.decode()
    assert f'action="{_release_url(ops["stale"])}"' in html and 'name="csrfmiddlewaretoken"' in html
    assert "Its lease expired at" in html
    live = staff_client.get(f"{CHANGELIST}{ops['admitted'].pk}/change/").content.decode()
    assert 'id="ops-release"' in live and "its handler may still be running" in live
    sealed = staff_client.get(f"{CHANGELIST}{ops['struct'].pk}/change/").content.decode()
    assert 'id="ops-release"' not in sealed


def test_the_button_releases_the_operation(staff_client, ops):
    response = staff_client.post(_release_url(ops["stale"]), follow=True)
    assert response.redirect_chain[-1][0] == CHANGELIST
    assert not Operation.objects.filter(pk=ops["stale"].pk).exists()
    assert "Released 1 admitted operation." in [str(m) for m in response.context["messages"]]


def test_the_release_view_needs_the_csrf_token(ops, django_user_model):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(django_user_model.objects.create_user("csrf", is_staff=True, is_superuser=True))
    assert client.post(_release_url(ops["stale"])).status_code == 403
    assert Operation.objects.filter(pk=ops["stale"].pk).exists()


def test_a_sealed_operation_is_not_released_by_the_button(staff_client, ops):
    response = staff_client.post(_release_url(ops["struct"]), follow=True)
    assert response.redirect_chain[-1][0] == f"{CHANGELIST}{ops['struct'].pk}/change/"
    assert Operation.objects.get(pk=ops["struct"].pk).state == "sealed"
    assert "1 selected operation was not admitted and was left alone." in [str(m) for m in response.context["messages"]]


def test_get_does_not_release(staff_client, ops):
    assert staff_client.get(_release_url(ops["stale"])).status_code == 405
    assert Operation.objects.filter(pk=ops["stale"].pk).exists()


def test_users_without_the_permission_get_403_and_no_button(viewer_client, ops):
    assert viewer_client.post(_release_url(ops["stale"])).status_code == 403
    assert Operation.objects.filter(pk=ops["stale"].pk).exists()
    html = viewer_client.get(f"{CHANGELIST}{ops['stale'].pk}/change/").content.decode()
    assert 'id="ops-release"' not in html


def test_anonymous_visitors_are_sent_to_log_in(client, ops):
    response = client.post(_release_url(ops["stale"]))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert Operation.objects.filter(pk=ops["stale"].pk).exists()


def test_the_action_refuses_more_than_its_limit(staff_client, ops, monkeypatch):
    monkeypatch.setattr(admin_operations, "RELEASE_LIMIT", 2)
    picked = [ops["admitted"].pk, ops["stale"].pk, ops["struct"].pk]
    response = staff_client.post(
        CHANGELIST, {"action": "release_admitted", "_selected_action": picked, "index": 0}, follow=True
    )
    messages = [str(m) for m in response.context["messages"]]
    assert any(m.startswith("More than 2 operations are selected: nothing was released.") for m in messages)
    assert Operation.objects.filter(pk__in=picked).count() == 3


def test_releasing_an_operation_that_is_gone_says_so(staff_client):
    response = staff_client.post(f"{CHANGELIST}999999/release/", follow=True)
    assert response.redirect_chain[-1][0] == CHANGELIST
    assert "1 operation was already gone." in [str(m) for m in response.context["messages"]]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_row_another_transaction_holds_is_busy_not_waited_for():
    """On PostgreSQL the release skips a row locked by a sealing transaction instead of waiting."""
    import psycopg
    from django.db import connection, transaction

    from tests.support.display import admitted

    stale = admitted(DjangoOperationStore("locked"), stale=True)
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    with psycopg.connect(**params) as other:  # the "handler" sealing it: holds the row lock
        other.execute("SELECT id FROM op_store_operation WHERE id = %s FOR UPDATE", [stale.pk])
        with transaction.atomic():  # as under ATOMIC_REQUESTS: the release runs on its own connection
            result = Operation.objects.release_admitted([stale.pk])
        other.rollback()
    assert result == ReleaseResult(busy=1)
    assert Operation.objects.filter(pk=stale.pk).exists()
    assert Operation.objects.release_admitted([stale.pk]) == ReleaseResult(released=1)
