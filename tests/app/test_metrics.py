"""Prometheus metrics: the request counters, the seal histograms and the operations collector.

Figures are read from prometheus-client's default registry (``REGISTRY.get_sample_value``) as
deltas around each request, because the registry lives as long as the process. The expected
outcomes are the contract's (what the client was told), the expected sizes are read from the
stored rows, and the expected counts are the rows each test writes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.apps import apps
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.test import AsyncClient, Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client import REGISTRY, generate_latest

from op_store import metrics
from op_store.conf import validate
from op_store.engine import runner
from op_store.metrics.counts import operation_counts
from op_store.models import Operation
from op_store.rpc.calls import Call
from op_store.store import DjangoOperationStore
from op_store.store.orm.alias import store_alias
from tests.support.live.support import apost, hook, post, preadmit, problem
from tests.support.rpc_services import HOOKS, RUNS, site

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]

#: The ``outcome`` and ``transport`` labels, as docs/deployment.md lists them.
OUTCOMES = ("executed", "replayed", "in_flight", "conflict", "indeterminate", "expired", "rejected")
TRANSPORTS = ("http", "rpc")


def sample(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


class Requests:
    """``op_store_requests_total`` now; :meth:`moved` says which series moved since, and by how much."""

    def __init__(self) -> None:
        self.before = self._read()

    @staticmethod
    def _read() -> dict[tuple[str, str], float]:
        return {
            (outcome, transport): sample("op_store_requests_total", outcome=outcome, transport=transport)
            for outcome in OUTCOMES
            for transport in TRANSPORTS
        }

    def moved(self) -> dict[tuple[str, str], float]:
        after = self._read()
        return {series: after[series] - self.before[series] for series in after if after[series] != self.before[series]}


class Histogram:
    """A histogram's ``_count`` and ``_sum`` for one transport, as deltas since it was created."""

    def __init__(self, name: str, transport: str) -> None:
        self.name, self.transport = name, transport
        self.count0, self.sum0 = self._read()

    def _read(self) -> tuple[float, float]:
        return (
            sample(f"{self.name}_count", transport=self.transport),
            sample(f"{self.name}_sum", transport=self.transport),
        )

    def delta(self) -> tuple[float, float]:
        count, total = self._read()
        return count - self.count0, total - self.sum0


@pytest.fixture(autouse=True)
def _metrics_on() -> Iterator[None]:
    assert runner.observer is not None, "prometheus-client is installed: metrics are on by default"
    RUNS.clear()
    HOOKS.clear()
    yield
    HOOKS.clear()


# --- requests by outcome -------------------------------------------------------------------------


def test_http_outcomes_are_counted_once_each(alice: Client, scope: str) -> None:
    requests = Requests()
    assert post(alice, "/lc/fn/a/").status_code == 201
    assert post(alice, "/lc/fn/a/")["Idempotent-Replayed"] == "true"
    assert post(alice, "/lc/fn/a/", data={"amount": 2}).status_code == 422
    preadmit(scope, "/lc/fn/b/", key="k-2")
    assert post(alice, "/lc/fn/b/", key="k-2").status_code == 409
    assert post(alice, "/lc/required/c/", key=None).status_code == 400  # no key, one is required
    assert post(Client(), "/lc/fn/d/", key="k-4").status_code == 403  # the default scope refuses anonymous keys
    assert requests.moved() == {
        ("executed", "http"): 1,
        ("replayed", "http"): 1,
        ("conflict", "http"): 1,
        ("in_flight", "http"): 1,
        ("rejected", "http"): 2,
    }


def test_async_views_are_counted_too(user: User) -> None:
    client = AsyncClient()
    client.force_login(user)
    requests = Requests()
    first = async_to_sync(apost)(client, "/lc/async/a/")
    again = async_to_sync(apost)(client, "/lc/async/a/")
    assert first.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert requests.moved() == {("executed", "http"): 1, ("replayed", "http"): 1}


def test_stale_and_purged_operations_count_as_indeterminate_and_expired(alice: Client, scope: str) -> None:
    preadmit(scope, "/lc/fn/a/")
    Operation.objects.filter(scope=scope).update(lease_expires_at=timezone.now() - timedelta(minutes=1))
    requests = Requests()
    assert problem(post(alice, "/lc/fn/a/"))["code"] == "indeterminate"
    Operation.objects.filter(scope=scope).update(state=Operation.State.EXPIRED, expires_at=timezone.now())
    assert problem(post(alice, "/lc/fn/a/"))["code"] == "expired"
    assert requests.moved() == {("indeterminate", "http"): 1, ("expired", "http"): 1}


def test_requests_without_a_key_count_as_executed(alice: Client) -> None:
    requests = Requests()
    sizes = Histogram("op_store_reply_size_bytes", "http")
    assert post(alice, "/lc/fn/a/", key=None).status_code == 201
    assert requests.moved() == {("executed", "http"): 1}
    assert sizes.delta() == (0, 0)  # nothing sealed


def rpc(client: Client, method: str, args: dict[str, Any], op: int | None) -> Any:
    extra = {} if op is None else {"HTTP_VOX_OPERATION_ID": str(op)}
    return client.post(
        f"/rpc/bank/{method}",
        json.dumps(args),
        content_type="application/json",
        HTTP_ACCEPT="application/json",
        **extra,
    )


def rpc_fingerprint(method: str, args: tuple[Any, ...], op: int) -> bytes:
    """The fingerprint the RPC view computes for this call (to admit it as another owner would)."""
    spec = site.lookup("bank", method)
    assert spec is not None
    return Call(None, spec, args, spec.args_codec.encode(args), op).fingerprint  # type: ignore[arg-type]


def test_rpc_outcomes_are_counted_once_each(user: User) -> None:
    client = Client()
    client.force_login(user)
    op, busy = random.getrandbits(63), random.getrandbits(63)
    requests = Requests()
    assert json.loads(rpc(client, "deposit", {"account": "alice", "amount": 3}, op).content)["variant"] == "Ok"
    assert rpc(client, "deposit", {"account": "alice", "amount": 3}, op)["Idempotent-Replayed"] == "true"
    conflict = json.loads(rpc(client, "deposit", {"account": "alice", "amount": 4}, op).content)
    assert conflict["value"]["variant"] == "InvalidPayload"
    admission = DjangoOperationStore(scope=f"user:{user.pk}").try_admit(
        busy, fingerprint=rpc_fingerprint("deposit", ("bob", 1), busy), lease=timedelta(seconds=60)
    )
    assert admission.admitted
    assert rpc(client, "deposit", {"account": "bob", "amount": 1}, busy).status_code == 409
    assert rpc(Client(), "deposit", {"account": "carol", "amount": 1}, op).status_code == 403  # anonymous id
    assert requests.moved() == {
        ("executed", "rpc"): 1,
        ("replayed", "rpc"): 1,
        ("conflict", "rpc"): 1,
        ("in_flight", "rpc"): 1,
        ("rejected", "rpc"): 1,
    }


def test_idempotent_rpc_methods_count_as_executed(user: User) -> None:
    client = Client()
    client.force_login(user)
    requests = Requests()
    assert rpc(client, "balance", {"account": "alice"}, random.getrandbits(63)).status_code == 200
    assert requests.moved() == {("executed", "rpc"): 1}


# --- histograms ----------------------------------------------------------------------------------


def test_a_sealed_http_reply_is_observed_once(alice: Client, scope: str) -> None:
    sizes = Histogram("op_store_reply_size_bytes", "http")
    times = Histogram("op_store_admission_to_seal_seconds", "http")
    with hook("a", lambda request: time.sleep(0.2)):
        assert post(alice, "/lc/fn/a/").status_code == 201
    stored = Operation.objects.get(scope=scope)
    assert stored.response is not None
    assert sizes.delta() == (1, len(bytes(stored.response)))
    count, seconds = times.delta()
    assert count == 1 and 0.2 <= seconds < 30
    assert post(alice, "/lc/fn/a/")["Idempotent-Replayed"] == "true"
    assert sizes.delta()[0] == 1 and times.delta()[0] == 1  # a replay seals nothing


def test_a_sealed_rpc_reply_is_observed_once(user: User) -> None:
    client = Client()
    client.force_login(user)
    sizes = Histogram("op_store_reply_size_bytes", "rpc")
    times = Histogram("op_store_admission_to_seal_seconds", "rpc")
    op = random.getrandbits(63)
    assert rpc(client, "deposit", {"account": "alice", "amount": 3}, op).status_code == 200
    stored = Operation.objects.get(operation_id=op)
    assert stored.response is not None
    assert sizes.delta() == (1, len(bytes(stored.response)))
    count, seconds = times.delta()
    assert count == 1 and 0 < seconds < 30
    assert Histogram("op_store_reply_size_bytes", "http").delta() == (0, 0)


def test_an_unsealed_reply_is_not_observed(alice: Client) -> None:
    sizes = Histogram("op_store_reply_size_bytes", "http")
    assert post(alice, "/lc/fn/a/?status=503").status_code == 503  # 5xx: released, not sealed
    assert sizes.delta() == (0, 0)


# --- the operations collector --------------------------------------------------------------------


def make_rows(state: str, n: int, *, lease: timedelta | None = None, scope: str = "s") -> None:
    now = timezone.now()
    Operation.objects.bulk_create(
        Operation(
            scope=scope,
            operation_id=random.getrandbits(63),
            state=state,
            token=1,
            lease_expires_at=None if lease is None else now + lease,
        )
        for _ in range(n)
    )


def test_the_collector_counts_admitted_stale_and_sealed_rows() -> None:
    make_rows("admitted", 3, lease=timedelta(minutes=1))
    make_rows("admitted", 2, lease=timedelta(minutes=-1))  # stale
    make_rows("sealed", 4)
    make_rows("expired", 1)
    figures = {state: (figure.value, figure.estimated) for state, figure in operation_counts().items()}
    assert figures == {"admitted": (5, False), "stale": (2, False), "sealed": (4, False)}
    assert sample("op_store_operations", state="admitted") == 5
    assert sample("op_store_operations", state="stale") == 2
    assert sample("op_store_operations", state="sealed") == 4
    assert REGISTRY.get_sample_value("op_store_operations_estimated", {"state": "sealed"}) == 0


def test_the_collector_never_counts_the_whole_table() -> None:
    make_rows("sealed", 3)
    alias = store_alias()
    with CaptureQueriesContext(connections[alias]) as queries:
        operation_counts()
    statements = [q["sql"].upper() for q in queries.captured_queries]
    assert len(statements) == 3
    for sql in statements:
        # SELECT COUNT(*) FROM (SELECT ... WHERE state = ... LIMIT 10001): bounded, whatever the table size.
        assert "COUNT(" in sql and "LIMIT 10001" in sql and "STATE" in sql.split("WHERE", 1)[1], sql


def test_past_the_cap_a_figure_is_an_estimate() -> None:
    make_rows("sealed", 5)
    alias = store_alias()
    with CaptureQueriesContext(connections[alias]) as queries:
        figures = operation_counts(cap=3)
    assert figures["sealed"].estimated and figures["sealed"].value >= 3
    assert not figures["admitted"].estimated and figures["admitted"].value == 0
    explains = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("EXPLAIN")]
    if connections[alias].vendor == "postgresql":
        assert len(explains) == 1  # the planner's estimate, no row read
    else:
        assert figures["sealed"].value == 3 and explains == []  # the cap itself


@pytest.mark.postgres
def test_postgres_estimates_a_big_state_from_the_planner_statistics() -> None:
    make_rows("sealed", 200)
    make_rows("admitted", 20, lease=timedelta(minutes=1))
    alias = store_alias()
    with connections[alias].cursor() as cursor:
        cursor.execute(f"ANALYZE {Operation._meta.db_table}")
    figures = operation_counts(cap=50)
    assert figures["sealed"].estimated and 180 <= figures["sealed"].value <= 220
    assert figures["admitted"].value == 20 and not figures["admitted"].estimated


def test_a_collector_failure_leaves_the_other_metrics_scrapable(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.db import DatabaseError

    from op_store.metrics import prometheus

    def broken(**kwargs: Any) -> Any:
        raise DatabaseError("database down")

    monkeypatch.setattr(prometheus, "operation_counts", broken)
    text = generate_latest(REGISTRY).decode()
    assert "op_store_requests_total" in text and "op_store_operations{" not in text


# --- switching metrics on and off ----------------------------------------------------------------


def test_metrics_off_moves_nothing_and_collects_nothing(alice: Client) -> None:
    make_rows("sealed", 2)
    with override_settings(OP_STORE={"METRICS": False}):
        assert runner.observer is None
        requests = Requests()
        sizes = Histogram("op_store_reply_size_bytes", "http")
        assert post(alice, "/lc/fn/a/").status_code == 201
        assert post(alice, "/lc/fn/a/")["Idempotent-Replayed"] == "true"
        assert requests.moved() == {} and sizes.delta() == (0, 0)
        assert REGISTRY.get_sample_value("op_store_operations", {"state": "sealed"}) is None
    assert runner.observer is not None
    assert sample("op_store_operations", state="sealed") == 3


def test_metrics_true_without_prometheus_client_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    find_spec = importlib.util.find_spec

    def without_prometheus(name: str, *args: Any) -> Any:
        return None if name == "prometheus_client" else find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_prometheus)
    try:
        with override_settings(OP_STORE={"METRICS": None}):
            assert not metrics.enabled() and runner.observer is None
        with (
            pytest.raises(ImproperlyConfigured, match="prometheus-client is not installed"),
            override_settings(OP_STORE={"METRICS": True}),
        ):
            pass
    finally:
        monkeypatch.undo()
        metrics.apply()
    assert runner.observer is not None


IMPORTS = """
import sys
import django
django.setup()
from django.test import Client
from op_store.engine import runner
# A request through the runner (anonymous: refused by the scope resolver, no table needed).
assert Client().post("/lc/fn/a/", b"{}", content_type="application/json", HTTP_IDEMPOTENCY_KEY="k").status_code == 403
print(runner.observer is not None, "prometheus_client" in sys.modules, "op_store.metrics.prometheus" in sys.modules)
"""


@pytest.mark.parametrize(("setting", "imported"), [(False, False), (None, True)])
def test_metrics_off_imports_nothing_of_prometheus(tmp_path: Path, setting: bool | None, imported: bool) -> None:
    (tmp_path / "metrics_settings.py").write_text(
        f"from tests.settings import *  # noqa\nOP_STORE = {{'METRICS': {setting}}}\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}:{ROOT}", "DJANGO_SETTINGS_MODULE": "metrics_settings"}
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == [str(imported)] * 3  # observer installed, prometheus-client and our module imported


@pytest.mark.parametrize("value", ["yes", 1, 0])
def test_metrics_setting_takes_none_true_or_false(value: object) -> None:
    with pytest.raises(ImproperlyConfigured, match="METRICS"):
        validate({"METRICS": value})
    assert validate({})["METRICS"] is None


def test_ready_again_registers_nothing_twice() -> None:
    observer = runner.observer
    apps.get_app_config("op_store").ready()
    metrics.install()
    assert runner.observer is observer
    text = generate_latest(REGISTRY).decode()
    assert text.count('op_store_operations{state="sealed"}') == 1
    assert text.count('op_store_requests_total{outcome="executed",transport="http"}') == 1
