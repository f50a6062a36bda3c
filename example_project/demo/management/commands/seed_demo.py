"""Create the demo user (and its API token) and some operations to look at in the admin; safe to run again.

The operations come from real traffic: payments POSTed through ``exactly_once`` (each a ``Payment``
row, written once however often it is sent) and ledger calls
through the RPC view (each sent twice, so the second is a replay), plus a few values of other
types sealed straight into the store, one admission left stale and one purged to a tombstone.
Fixed keys and ids make a second run replay instead of adding more.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from demo.api import DEMO_TOKEN
from op_store.store import DjangoOperationStore, OperationState
from op_store.vox import I32, U32, Err, Ok, Result, encode, schema_for


@dataclass(frozen=True)
class Point:
    x: I32
    y: I32


@dataclass(frozen=True)
class Route:
    name: str
    stops: list[Point]
    tags: dict[str, U32]
    note: str | None


def _seal_sample(store: DjangoOperationStore, operation_id: int, value: Any, tp: Any) -> bool:
    if store.lookup(operation_id) is not OperationState.UNKNOWN:
        return False
    root, registry = schema_for(tp)
    store.seal(operation_id, encode(value, tp), root, registry)
    return True


class Command(BaseCommand):
    help = "Create the demo superuser (demo / demo, with an API token) and demo operations; safe to run again."

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        user, created = User.objects.get_or_create(username="demo", defaults={"is_staff": True, "is_superuser": True})
        if created:
            user.set_password("demo")
            user.save()
        Token.objects.get_or_create(user=user, defaults={"key": DEMO_TOKEN})
        self.stdout.write(f"demo user: demo / demo, API token {DEMO_TOKEN} ({'created' if created else 'exists'})")

        client = Client(HTTP_HOST="localhost")
        for n, amount in enumerate((1250, 990, 40000), start=1):
            for _ in range(2):  # the second send is a retry: replayed, not charged again
                client.post(
                    "/demo/payments/",
                    {"amount": amount, "currency": "EUR"},
                    content_type="application/json",
                    HTTP_IDEMPOTENCY_KEY=f"demo-order-{n}",
                )
        calls = [
            ("deposit", {"account": "alice", "amount": 10000}),
            ("transfer", {"from": "alice", "to": "bob", "amount": 2500}),
            ("transfer", {"from": "carol", "to": "bob", "amount": 1}),  # a typed user error, sealed too
        ]
        for operation_id, (method, body) in enumerate(calls, start=9001):
            for _ in range(2):
                client.post(
                    f"/rpc/ledger/{method}",
                    body,
                    content_type="application/json",
                    HTTP_ACCEPT="application/json",
                    HTTP_VOX_OPERATION_ID=str(operation_id),
                )

        samples = DjangoOperationStore(scope="demo:samples")
        route = Route("harbour loop", [Point(0, 0), Point(10, -20), Point(3, 4)], {"km": 12, "stops": 3}, None)
        sealed = sum(
            [
                _seal_sample(samples, 1, route, Route),
                _seal_sample(samples, 2, Ok(Point(1, 2)), Result[Point, str]),
                _seal_sample(samples, 3, Err("no route between these stops"), Result[Point, str]),
                _seal_sample(samples, 2**64 - 1, [1, 2, 3, 5, 8, 13], list[U32]),
            ]
        )
        # An admission whose owner died: its lease ran out an hour ago, so it shows as stale.
        an_hour_ago = timezone.now() - timedelta(hours=1)
        stale = DjangoOperationStore(scope="demo:samples", clock=lambda: an_hour_ago)
        stale.try_admit(4, lease=timedelta(seconds=30), method="POST /demo/crashed/", key="demo-crashed")
        # A reply sealed two days ago, purged to a tombstone (a retry now gets 410 Gone).
        two_days_ago = timezone.now() - timedelta(days=2)
        old = DjangoOperationStore(scope="demo:samples", clock=lambda: two_days_ago)
        _seal_sample(old, 5, Point(7, 7), Point)
        purged = DjangoOperationStore(scope="demo:samples").purge()
        self.stdout.write(
            f"demo operations: payments and ledger calls sent; {sealed} samples sealed; "
            f"{purged.expired} purged to tombstones"
        )
