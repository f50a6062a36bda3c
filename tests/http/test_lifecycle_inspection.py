"""Issue 4: two users sending the same key get two independent operations, and the inspection of one
never shows the other.

Both users POST the same Idempotency-Key to the same ``exactly_once`` view (default scope resolver:
``user:<pk>``) with different bodies. Were the scope shared, the second user would get 422
fingerprint-mismatch (or the first user's reply); here each gets a reply of their own, each retry
replays only their own, and the staff-only inspection API, filtered by one user's scope, lists and
decodes only that user's operation.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from op_store.lifecycle.keys import operation_id_for_key
from op_store.models import Operation
from tests.support.display import login_client
from tests.support.live.support import post
from tests.testapp.models import Counter

pytestmark = pytest.mark.django_db(transaction=True)

VIEW = "/lc/drf-fn/shared/"  # echoes the request's JSON body as "data"
KEY = "same-key-for-both"
API = "/api/op-store/operations/"


def _client(username: str) -> tuple[User, Client]:
    user = User.objects.create(username=username)
    client = Client()
    client.force_login(user)
    return user, client


def _listed(staff: Client, scope: str) -> list[dict[str, Any]]:
    response = staff.get(API, {"scope": scope})
    assert response.status_code == 200, response.content[:500]
    return response.json()["results"]


def test_same_key_from_two_users_is_two_operations_inspected_apart() -> None:
    alice, alice_client = _client("alice")
    bob, bob_client = _client("bob")
    bodies = {"alice": {"amount": 1, "owner": "alice"}, "bob": {"amount": 2, "owner": "bob"}}

    first = {
        "alice": post(alice_client, VIEW, KEY, data=bodies["alice"]),
        "bob": post(bob_client, VIEW, KEY, data=bodies["bob"]),
    }
    for name, response in first.items():
        assert response.status_code == 201, response.content[:500]  # not 422 fingerprint-mismatch
        assert not response.has_header("Idempotent-Replayed")  # ran, not replayed from the other user
        assert response.json()["data"] == bodies[name]
    assert first["alice"].json()["nonce"] != first["bob"].json()["nonce"]
    assert Counter.objects.get(name="shared").value == 2  # the view ran once per user

    for name, client in (("alice", alice_client), ("bob", bob_client)):
        retry = post(client, VIEW, KEY, data=bodies[name])
        assert retry.status_code == 201
        assert retry["Idempotent-Replayed"] == "true"
        assert retry.content == first[name].content  # this user's own reply, byte for byte
    assert Counter.objects.get(name="shared").value == 2  # retries replayed, nothing ran again

    scopes = {"alice": f"user:{alice.pk}", "bob": f"user:{bob.pk}"}
    rows = Operation.objects.filter(operation_id=operation_id_for_key(KEY))
    assert sorted(rows.values_list("scope", flat=True)) == sorted(scopes.values())
    assert all(row.state == Operation.State.SEALED and row.key == KEY for row in rows)

    # The inspection API is staff-only: neither user can look at anyone's operations there.
    assert alice_client.get(API).status_code == 403

    staff = login_client()
    for name, other in (("alice", "bob"), ("bob", "alice")):
        listed = _listed(staff, scopes[name])
        assert [row["scope"] for row in listed] == [scopes[name]]  # only this user's operation
        assert listed[0]["key"] == KEY
        assert listed[0]["operation_id"] == str(operation_id_for_key(KEY))
        assert listed[0]["id"] == rows.get(scope=scopes[name]).pk

        detail = staff.get(listed[0]["url"])
        assert detail.status_code == 200, detail.content[:500]
        http = detail.json()["response"]["http"]
        assert http["status"] == 201
        assert http["body"]["encoding"] == "json"
        assert http["body"]["value"] == first[name].json()
        assert http["body"]["value"]["data"] == bodies[name]
        text = json.dumps(detail.json())
        assert bodies[name]["owner"] in text
        assert f'"owner": "{other}"' not in text and first[other].json()["nonce"] not in text
