"""The example project's ``/metrics``, scraped over real HTTP after a few requests (runserver, SQLite file)."""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.support.example_server import seeded_example


def send(url: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json", **headers}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def requests_total(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], outcome: str, transport: str
) -> float:
    return samples[("op_store_requests_total", (("outcome", outcome), ("transport", transport)))]


def test_the_example_serves_op_store_metrics(tmp_path: Path) -> None:
    with seeded_example(tmp_path) as url:
        charge = {"amount": 1250, "currency": "EUR"}
        assert send(f"{url}/demo/payments/", charge, {"Idempotency-Key": "m-1"})[0] == 201
        assert send(f"{url}/demo/payments/", charge, {"Idempotency-Key": "m-1"})[0] == 201  # replayed
        assert send(f"{url}/demo/payments/", {"amount": 99}, {"Idempotency-Key": "m-1"})[0] == 422  # conflict
        deposit = {"account": "metrics", "amount": 500}
        rpc = {"Vox-Operation-Id": "77", "Accept": "application/json"}
        for _ in range(2):
            status, body = send(f"{url}/rpc/ledger/deposit", deposit, rpc)
            assert status == 200 and json.loads(body)["variant"] == "Ok"
        samples = scrape(url)
    with sqlite3.connect(tmp_path / "example.sqlite3") as db:
        ((sealed,),) = db.execute("SELECT COUNT(*) FROM op_store_operation WHERE state = 'sealed'").fetchall()
        leases = [
            row[0] for row in db.execute("SELECT lease_expires_at FROM op_store_operation WHERE state = 'admitted'")
        ]
    now = datetime.now(UTC).replace(tzinfo=None)  # Django keeps UTC datetimes naive in SQLite
    stale = sum(datetime.fromisoformat(lease) < now for lease in leases)
    assert requests_total(samples, "executed", "http") == 1
    assert requests_total(samples, "replayed", "http") == 1
    assert requests_total(samples, "conflict", "http") == 1
    assert requests_total(samples, "executed", "rpc") == 1
    assert requests_total(samples, "replayed", "rpc") == 1
    assert requests_total(samples, "in_flight", "http") == 0
    assert samples[("op_store_reply_size_bytes_count", (("transport", "http"),))] == 1
    assert samples[("op_store_admission_to_seal_seconds_count", (("transport", "rpc"),))] == 1
    assert sealed >= 2  # the two sealed above, and whatever seed_demo sealed
    assert samples[("op_store_operations", (("state", "sealed"),))] == sealed
    assert samples[("op_store_operations", (("state", "admitted"),))] == len(leases)
    assert samples[("op_store_operations", (("state", "stale"),))] == stale
