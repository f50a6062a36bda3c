"""The runner on its own: a made-up transport (no views, no RPC) against the in-memory store.

Every outcome here is a typed value; what a transport makes of it is tested with the HTTP views and
the RPC view. The expected values come from the contract (what a retry must see), not the runner.
"""

from __future__ import annotations

import ast
import logging
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from django.test import RequestFactory

import op_store
from op_store.conf import STALE_POLICIES
from op_store.engine import outcomes as o
from op_store.engine import runner, transactions
from op_store.engine.keys import OperationKey
from op_store.engine.policy import Options, Policy, StalePolicy
from op_store.lifecycle.reply import reply_schema
from op_store.problems import ANONYMOUS_KEY, ProblemError
from op_store.store import InMemoryOperationStore
from op_store.store import transactions as store_transactions
from op_store.testing import FakeClock

ROOT, REGISTRY = reply_schema()
KEY = OperationKey(42, "k-42", "Idempotency-Key")


class Work:
    """A transport of our own: ``run`` counts its calls and answers ``result``; ``action`` decides its fate."""

    log = logging.getLogger("tests.runner")
    label = "test work"
    atomic = False
    transport = "test"

    def __init__(
        self, result: Any = b"reply", action: o.SettleAction = o.SettleAction.SEAL, fingerprint: bytes = b"f" * 32
    ) -> None:
        self.request = RequestFactory().post("/")
        self.result = result
        self.action = action
        self.exactly_once = True
        self._fingerprint = fingerprint
        self.runs = 0

    def fingerprint(self, policy: Policy) -> bytes:
        return self._fingerprint

    def describe(self, job: runner.Job) -> str:
        return f"test operation {job.key.operation_id}"

    def run(self, inside: str | None) -> Any:
        self.runs += 1
        if isinstance(self.result, BaseException):
            raise self.result
        return self.result

    def settle(self, result: Any, job: runner.Job) -> o.Settlement:
        return o.Settlement(result, self.action, result, ROOT, REGISTRY, 201)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2030, 1, 1, tzinfo=UTC))


@pytest.fixture
def store(clock: FakeClock) -> InMemoryOperationStore:
    return InMemoryOperationStore(clock)


def policy_for(store: InMemoryOperationStore, **options: Any) -> Policy:
    options.setdefault("scope", lambda request: "tests")
    return Options.build(store=lambda scope: store, lease=timedelta(seconds=10), **options).resolve_for(unsafe=True)


def run(work: Work, store: InMemoryOperationStore, key: OperationKey | None = KEY, **options: Any) -> o.Outcome:
    return runner.run(work, key, policy_for(store, **options), ())


def test_a_fresh_key_runs_once_and_a_retry_gets_the_sealed_result(store: InMemoryOperationStore) -> None:
    work = Work()
    first = run(work, store)
    again = run(work, store)
    assert first == o.Executed(b"reply", o.SettleAction.SEAL)
    assert isinstance(again, o.Replayed)
    assert (again.sealed.response, again.sealed.root_type, again.sealed.status_code) == (b"reply", ROOT, 201)
    assert work.runs == 1


def test_without_a_key_the_work_runs_untracked_unless_a_key_is_required(store: InMemoryOperationStore) -> None:
    work = Work()
    assert run(work, store, key=None) == o.Untracked(b"reply")
    assert run(work, store, key=None) == o.Untracked(b"reply")
    assert run(work, store, key=None, required=True) == o.MissingKey()
    assert work.runs == 2 and store.stats()["total"] == 0


def test_work_that_is_safe_to_repeat_never_touches_the_store(store: InMemoryOperationStore) -> None:
    work = Work()
    work.exactly_once = False
    assert run(work, store) == o.Untracked(b"reply") and run(work, store) == o.Untracked(b"reply")
    assert work.runs == 2 and store.stats()["total"] == 0


def test_a_key_reused_for_other_work_is_a_conflict(store: InMemoryOperationStore) -> None:
    run(Work(), store)
    other = Work(fingerprint=b"g" * 32)
    assert run(other, store) == o.Conflict() and other.runs == 0


def test_a_refusing_scope_rejects_before_admission(store: InMemoryOperationStore) -> None:
    def refuse(request: Any) -> str:
        raise ProblemError(ANONYMOUS_KEY, "who are you?")

    work = Work()
    outcome = run(work, store, scope=refuse)
    assert isinstance(outcome, o.Rejected) and outcome.error.problem is ANONYMOUS_KEY
    assert work.runs == 0 and store.stats()["total"] == 0


@pytest.mark.parametrize("action", [o.SettleAction.RELEASE, o.SettleAction.ROLLBACK])
def test_a_result_that_is_not_sealed_releases_the_key(store: InMemoryOperationStore, action: o.SettleAction) -> None:
    work = Work(action=action)
    assert run(work, store) == o.Executed(b"reply", action)
    assert run(work, store) == o.Executed(b"reply", action)
    assert work.runs == 2 and store.stats()["total"] == 0


def test_work_that_raises_releases_the_key(store: InMemoryOperationStore) -> None:
    work = Work(result=RuntimeError("boom"))
    with pytest.raises(RuntimeError, match="boom"):
        run(work, store)
    work.result = b"second try"
    assert run(work, store) == o.Executed(b"second try", o.SettleAction.SEAL)


def test_a_running_operation_is_in_flight(store: InMemoryOperationStore) -> None:
    held = store.try_admit(KEY.operation_id, fingerprint=b"f" * 32, lease=timedelta(seconds=10))
    assert held.token is not None
    work = Work()
    assert run(work, store) == o.InFlight() and work.runs == 0


def test_waiting_replays_what_the_running_owner_sealed(
    store: InMemoryOperationStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = store.try_admit(KEY.operation_id, fingerprint=b"f" * 32, lease=timedelta(seconds=10))
    assert held.token is not None

    def seal_while_waiting(alias: str | None) -> None:
        store.seal_owned(KEY.operation_id, held.token, b"from the owner", ROOT, REGISTRY, status_code=200)

    monkeypatch.setattr(runner, "release_connection", seal_while_waiting)
    work = Work()
    outcome = run(work, store, wait=5)
    assert isinstance(outcome, o.Replayed) and outcome.sealed.response == b"from the owner"
    assert work.runs == 0


@pytest.mark.parametrize(("stale", "runs"), [("indeterminate", 0), ("reexecute", 1), ("reexecute_if_transactional", 0)])
def test_a_stale_admission_follows_the_stale_policy(
    store: InMemoryOperationStore, clock: FakeClock, stale: str, runs: int
) -> None:
    store.try_admit(KEY.operation_id, fingerprint=b"f" * 32, lease=timedelta(seconds=10))  # not transactional
    clock.now += timedelta(seconds=11)
    work = Work()
    outcome = run(work, store, stale=stale)
    assert outcome == (o.Executed(b"reply", o.SettleAction.SEAL) if runs else o.Indeterminate())
    assert work.runs == runs


def test_a_failed_seal_keeps_the_admission(store: InMemoryOperationStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(store, "seal_owned", broken)
    work = Work()
    assert run(work, store) == o.Executed(b"reply", o.SettleAction.SEAL)  # the work's effects stand
    monkeypatch.undo()
    assert run(work, store) == o.InFlight() and work.runs == 1  # never run twice


def test_stale_policy_names_match_the_settings() -> None:
    assert [policy.value for policy in StalePolicy] == list(STALE_POLICIES)
    assert StalePolicy("reexecute").takes_over(transactional=False)
    assert StalePolicy("reexecute_if_transactional").takes_over(transactional=True)
    assert not StalePolicy("reexecute_if_transactional").takes_over(transactional=False)
    assert not StalePolicy("indeterminate").takes_over(transactional=True)


def test_the_runner_and_its_transports_depend_on_the_store_contract_only() -> None:
    """No import of the ORM store module anywhere in them (not even inside a function), nor on import."""
    package = Path(op_store.__file__).parent
    sources = [
        *(package / "engine").glob("*.py"),
        *(package / "lifecycle").glob("*.py"),
        *(package / "rpc").glob("*.py"),
        package / "decorators.py",
        package / "middleware.py",
    ]
    offenders = []
    for source in sources:
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [f"{node.module}.{alias.name}" for alias in node.names] + [str(node.module)]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            if any(name.startswith("op_store.store.orm") for name in names):
                offenders.append(source.name)
    assert len(sources) > 20 and offenders == []
    # In a fresh interpreter (the app registry would load the admin, which does use the ORM store):
    code = (
        "import sys; import op_store.engine.runner, op_store.lifecycle.engine, op_store.rpc.views, "
        "op_store.rpc.site, op_store.decorators, op_store.middleware; "
        "print(sorted(m for m in ('op_store.store.orm', 'op_store.models') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.django_db
def test_the_test_case_transaction_is_not_the_callers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite calls op_store.testing.ignore_test_case_transactions(); without it the test's own
    transaction would make every request transactional."""
    assert not transactions.in_caller_transaction("default")
    with transaction.atomic():
        assert transactions.in_caller_transaction("default")
    installed = store_transactions.ignored_blocks()
    store_transactions.ignore_atomic_blocks(None)
    try:
        assert transactions.in_caller_transaction("default")
    finally:
        store_transactions.ignore_atomic_blocks(installed)
