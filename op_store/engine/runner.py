"""The one exactly-once runner: every keyed HTTP request and RPC call passes through it once.

::

    key -> scope -> fingerprint -> store.try_admit
      admitted  -> run the work -> settle: seal the result, or release the admission -> Executed
      sealed    -> Replayed (the work does not run)
      in flight -> InFlight, or wait (polling, bounded, no connection held) and decide again
      stale     -> Indeterminate, or take over (compare-and-set) and run, as the stale policy says
      conflict  -> Conflict;  expired -> Expired
    no key      -> MissingKey when the policy requires one, else run it untracked -> Untracked

The runner knows no transport: a *work* object (:class:`Work`) runs the view or the method and
settles its result (what to seal), and a *responder* turns the :mod:`outcome <.outcomes>` into an
HTTP response or an RPC reply. See ``docs/architecture.md``.

Observation. :data:`observer` (None unless :mod:`op_store.metrics` is on) is told how each request
ended and each reply sealed: one ``if observer is not None`` per site, so a runner without metrics
pays one comparison and nothing else (``docs/deployment.md``, "Metrics").

Transactions. When the work runs in a transaction on the store's database (the work is atomic,
``ATOMIC_REQUESTS`` is on for that alias, or the caller already is in a transaction there), the
runner opens that transaction itself, *after* the admission committed: admission (autocommit) ->
BEGIN -> work -> seal -> COMMIT. The seal joins the work's transaction, so the work's writes and the
sealed result commit together or not at all, and after a rollback the admission can be released
(the work provably did nothing). Async work never runs in a transaction (Django's do not span awaits).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from asgiref.sync import sync_to_async
from django.db import DatabaseError, transaction

from op_store.problems import DATABASE_BUSY, ProblemError
from op_store.signals import operation_replayed
from op_store.store.base import Admission, AdmissionOutcome, LeasedOperationStore, OwnershipLostError, StoreBusyError

from .keys import OperationKey
from .outcomes import (
    Conflict,
    Executed,
    Expired,
    Indeterminate,
    InFlight,
    MissingKey,
    Outcome,
    OwnershipLost,
    Rejected,
    Replayed,
    SealFailed,
    SettleAction,
    Settlement,
    Untracked,
)
from .policy import IN_TRANSACTION, Policy
from .transactions import in_caller_transaction, release_connection

#: Polling an in-flight operation: first pause, growth factor, longest pause (seconds).
POLL_FIRST, POLL_FACTOR, POLL_MAX = 0.02, 1.6, 0.5
#: Retry-After (seconds) sent with 409 in-flight / ownership-lost and 503 seal-failed.
RETRY_AFTER = 1


class Work(Protocol):
    """What a transport hands the runner: the request, and how to run and settle the operation."""

    #: The request (for the scope resolver and the signals).
    request: Any
    #: Recorded with the admission: ``"POST /path"`` or the RPC method's label.
    label: str
    #: Whether the work wants a transaction on the store's database even without ``ATOMIC_REQUESTS``.
    atomic: bool
    #: Where the runner logs what happened to this work.
    log: logging.Logger
    #: False for work that is safe to repeat (an idempotent RPC method): it always runs untracked.
    exactly_once: bool
    #: Which transport the work came through (``"http"``, ``"rpc"``): a label of the metrics.
    transport: str

    def fingerprint(self, policy: Policy) -> bytes:
        """What must match on a retry; may raise :class:`~op_store.problems.ProblemError`."""
        ...

    def settle(self, result: Any, job: Job) -> Settlement:
        """What to do with the work's result: seal it (and how), or release the admission."""
        ...

    def describe(self, job: Job) -> str:
        """The operation, for log messages."""
        ...


class SyncWork(Work, Protocol):
    def run(self, inside: str | None) -> Any:
        """Run the view or method; ``inside``: the alias of the transaction the runner opened around it."""
        ...


class AsyncWork(Work, Protocol):
    async def run(self) -> Any:
        """Run the async view (never in a transaction)."""
        ...


@dataclass(slots=True)
class Job:
    """One keyed request on its way through the runner."""

    work: Work
    policy: Policy
    key: OperationKey
    scope: str
    fingerprint: bytes
    store: LeasedOperationStore
    alias: str | None
    transactional: bool
    token: int | None = None
    #: ``time.monotonic()`` when the job was admitted (the start of the admission-to-seal time).
    admitted_at: float = 0.0


# --- steps before the work runs ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Admitted:
    """The job owns the operation (``job.token``): run the work."""

    job: Job


@dataclass(frozen=True, slots=True)
class Waiting:
    """Another owner is running it and a wait is configured: poll until it settles."""

    job: Job


@dataclass(frozen=True, slots=True)
class OneCommit:
    """The one-commit mode applies: admit inside the work's transaction (:func:`run_one_commit`)."""

    job: Job


class _Plain(enum.Enum):
    """No key, none required: run the work untracked."""

    PLAIN = "plain"


PLAIN = _Plain.PLAIN

#: What an admission means (decide); before admission there may be no key (PLAIN) instead.
Decision = Outcome | Admitted | Waiting
Step = Decision | OneCommit | _Plain


class InTransactionStore(Protocol):
    """A store that can admit inside the caller's transaction (the ORM store): the one-commit mode."""

    def peek(self, operation_id: int, *, fingerprint: bytes | None = None) -> Admission | None: ...

    def admit_in_transaction(
        self, operation_id: int, *, fingerprint: bytes | None, lease: Any, method: str, key: str
    ) -> Admission: ...

    def discard_in_transaction(self, operation_id: int, token: int) -> None: ...

    def waited_out(self, exc: BaseException) -> bool: ...


def _admits_in_transaction(store: LeasedOperationStore) -> bool:
    """Whether ``store`` is an :class:`InTransactionStore` (an attribute look-up: a runtime-checked
    Protocol's ``isinstance`` cost ~30 µs per request in the profile)."""
    return callable(getattr(store, "admit_in_transaction", None))


class Observer(Protocol):
    """What watches the runner: :mod:`op_store.metrics` installs one with :func:`observe`."""

    def ended(self, work: Work, outcome: Outcome) -> None:
        """``work`` went through the runner and ended in ``outcome``."""
        ...

    def sealed(self, job: Job, settled: Settlement) -> None:
        """``settled`` was sealed for ``job`` (and committed, when the job is transactional)."""
        ...


#: The runner's observer; None (the default) costs each hook site one comparison.
observer: Observer | None = None


def observe(new: Observer | None) -> Observer | None:
    """Install ``new`` as the runner's observer (None: none); returns the one it replaces."""
    global observer
    old, observer = observer, new
    return old


class Phase(enum.Enum):
    """How far a transactional run got, for what a failure means."""

    WORK = "work"
    SEAL = "seal"
    COMMIT = "commit"


def database_of(store: LeasedOperationStore) -> str | None:
    """The database alias a store writes to (its ``alias``), None for stores outside the database."""
    alias = getattr(store, "alias", None)
    return alias if isinstance(alias, str) else None


def begin(
    work: Work, key: OperationKey | None, policy: Policy, atomic_aliases: Sequence[str], *, is_async: bool
) -> Step:
    """Everything before the work runs: scope, fingerprint, admission and its meaning. Synchronous (ORM)."""
    if not work.exactly_once:
        return PLAIN
    if key is None:
        return MissingKey() if policy.required else PLAIN
    try:
        scope = policy.scope(work.request)
        fingerprint = work.fingerprint(policy)
    except ProblemError as exc:
        return Rejected(exc)
    if not isinstance(scope, str):
        raise TypeError(f"op_store scope resolver must return a str, got {type(scope).__name__}")
    if not isinstance(fingerprint, bytes):
        raise TypeError(f"op_store fingerprint must return bytes, got {type(fingerprint).__name__}")
    store = policy.store(scope)
    alias = database_of(store)
    transactional = (
        alias is not None and not is_async and (work.atomic or alias in atomic_aliases or in_caller_transaction(alias))
    )
    job = Job(work, policy, key, scope, fingerprint, store, alias, transactional)
    if transactional and policy.admission == IN_TRANSACTION and _admits_in_transaction(store):
        return OneCommit(job)
    return admit_and_decide(job)


def admit(job: Job) -> Admission:
    return job.store.try_admit(
        job.key.operation_id,
        fingerprint=job.fingerprint,
        lease=job.policy.lease,
        method=job.work.label,
        key=job.key.key,
        transactional=job.transactional,
    )


def admit_and_decide(job: Job) -> Decision:
    """Admit and decide; a lock wait that ran out is an operation in flight, or a busy database."""
    try:
        return decide(job, admit(job))
    except StoreBusyError as exc:
        if exc.in_flight:
            return Waiting(job) if job.policy.wait > 0 else InFlight()
        return Rejected(
            ProblemError(
                DATABASE_BUSY,
                "The database is busy with another request; nothing was done. Retry later with the same key.",
                retry_after=RETRY_AFTER,
            )
        )


def decide(job: Job, admission: Admission) -> Decision:
    """What an admission outcome means for this job."""
    outcome = admission.outcome
    if outcome is AdmissionOutcome.ADMITTED:
        assert admission.token is not None
        job.token = admission.token
        job.admitted_at = time.monotonic()
        return Admitted(job)
    if outcome is AdmissionOutcome.SEALED:
        assert admission.sealed is not None
        operation_replayed.send(
            sender=type(job.store),
            store=job.store,
            scope=job.scope,
            operation_id=job.key.operation_id,
            key=job.key.key,
            status_code=admission.sealed.status_code,
            request=job.work.request,
        )
        return Replayed(admission.sealed, job.store, job.key.operation_id, job.scope)
    if outcome is AdmissionOutcome.IN_FLIGHT:
        return Waiting(job) if job.policy.wait > 0 else InFlight()
    if outcome is AdmissionOutcome.STALE:
        return stale(job, admission)
    if outcome is AdmissionOutcome.CONFLICT:
        return Conflict()
    job.work.log.warning("op_store: %s expired (its sealed reply was purged)", job.work.describe(job))
    return Expired()


def stale(job: Job, admission: Admission) -> Decision:
    """A lease expired before a seal: fail closed, or take over when the policy allows it."""
    log, describe = job.work.log, job.work.describe
    if job.policy.stale.takes_over(admission.transactional):
        assert admission.token is not None
        taken = job.store.take_over(
            job.key.operation_id,
            admission.token,
            lease=job.policy.lease,
            transactional=job.transactional,
            fingerprint=job.fingerprint,
        )
        if taken.outcome is AdmissionOutcome.ADMITTED:
            log.warning("op_store: %s was stale; taken over and run again", describe(job))
        if taken.outcome is not AdmissionOutcome.STALE:
            return decide(job, taken)
    log.warning("op_store: %s is stale (started, never finished); answered indeterminate", describe(job))
    return Indeterminate()


def _pause(delay: float, deadline: float) -> float:
    return max(0.0, min(delay, deadline - time.monotonic()))


def wait_sync(job: Job) -> Outcome | Admitted:
    """Poll with backoff until the operation settles or the wait runs out; no connection held between polls."""
    deadline = time.monotonic() + job.policy.wait
    delay = POLL_FIRST
    while True:
        release_connection(job.alias)
        time.sleep(_pause(delay, deadline))
        delay = min(delay * POLL_FACTOR, POLL_MAX)
        step = admit_and_decide(job)
        if not isinstance(step, Waiting):
            return step
        if time.monotonic() >= deadline:
            return InFlight()


async def wait_async(job: Job) -> Outcome | Admitted:
    deadline = time.monotonic() + job.policy.wait
    delay = POLL_FIRST
    while True:
        await sync_to_async(release_connection, thread_sensitive=True)(job.alias)
        await asyncio.sleep(_pause(delay, deadline))
        delay = min(delay * POLL_FACTOR, POLL_MAX)
        step = await sync_to_async(_poll, thread_sensitive=True)(job)
        if not isinstance(step, Waiting):
            return step
        if time.monotonic() >= deadline:
            return InFlight()


def _poll(job: Job) -> Decision:
    return admit_and_decide(job)


# --- after the work ----------------------------------------------------------------------------


def release(job: Job) -> None:
    """Drop our admission so a retry runs again; a failure is logged (the lease then runs out)."""
    assert job.token is not None
    try:
        job.store.release(job.key.operation_id, job.token)
    except Exception:
        job.work.log.exception(
            "op_store: could not release %s; it stays admitted until its lease expires", job.work.describe(job)
        )


def finish(job: Job, result: Any) -> Outcome:
    """Seal or release after work that ran outside a transaction (its writes are committed)."""
    try:
        settled = job.work.settle(result, job)
    except BaseException:
        release(job)
        raise
    if settled.action is not SettleAction.SEAL:
        release(job)
        return Executed(settled.result, settled.action)
    log, describe = job.work.log, job.work.describe
    try:
        _seal(job, settled)
    except OwnershipLostError:
        log.warning("op_store: %s was taken over while it ran; its reply was not sealed", describe(job))
    except Exception:
        # The work's effects are committed; re-running it could repeat them. Keep the admission
        # (a retry is answered as the stale policy says) and hand back the result.
        log.exception("op_store: sealing %s failed; it stays admitted and will not be re-run", describe(job))
    else:
        if observer is not None:
            observer.sealed(job, settled)
    return Executed(settled.result, settled.action)


def _seal(job: Job, settled: Settlement) -> None:
    assert job.token is not None and settled.root is not None and settled.registry is not None
    job.store.seal_owned(
        job.key.operation_id, job.token, settled.data, settled.root, settled.registry, status_code=settled.status
    )


def run_transactional(job: Job, work: SyncWork) -> Outcome:
    """Run the work and seal inside one transaction on the store's database (see the module doc)."""
    alias = job.alias
    assert alias is not None
    log, describe = work.log, work.describe
    phase = Phase.WORK
    settled: Settlement | None = None
    try:
        with transaction.atomic(using=alias):
            settled = work.settle(work.run(alias), job)
            if settled.action is SettleAction.SEAL and transaction.get_rollback(using=alias):
                settled.action = SettleAction.ROLLBACK  # something (e.g. DRF's exception handler) doomed it
            if settled.action is SettleAction.SEAL:
                phase = Phase.SEAL
                _seal(job, settled)
                phase = Phase.COMMIT
            elif settled.action is SettleAction.ROLLBACK:
                transaction.set_rollback(True, using=alias)
    except OwnershipLostError:
        log.warning("op_store: %s was taken over while it ran; its writes were rolled back", describe(job))
        return OwnershipLost()
    except Exception as exc:
        if phase is Phase.WORK:
            release(job)
            raise
        if phase is Phase.SEAL or not isinstance(exc, DatabaseError):
            log.exception("op_store: sealing %s failed; its writes were rolled back", describe(job))
            release(job)
            return SealFailed(outcome_unknown=False)
        log.exception("op_store: committing %s failed; its outcome is unknown", describe(job))
        return SealFailed(outcome_unknown=True)
    except BaseException:
        release(job)
        raise
    assert settled is not None
    if settled.action is not SettleAction.SEAL:
        release(job)
    elif observer is not None:
        observer.sealed(job, settled)
    return Executed(settled.result, settled.action)


# --- the one-commit mode -------------------------------------------------------------------------


def run_one_commit(job: Job, work: SyncWork) -> Outcome:
    """Admit inside the work's transaction, run, seal, commit once (``docs/architecture.md``, "One commit").

    A stored row is read first without a transaction (a replay costs one SELECT). A row admitted
    in the default mode (committed, maybe stale) is handled as the default mode handles it. While
    another transaction holds the operation the request waits as ``WAIT`` says, then gets 409.
    """
    store = cast(InTransactionStore, job.store)
    deadline = time.monotonic() + job.policy.wait
    delay = POLL_FIRST
    while True:
        found = store.peek(job.key.operation_id, fingerprint=job.fingerprint)
        result = _one_commit_attempt(job, work, store) if found is None else found
        if not isinstance(result, Admission):
            return result
        step = decide(job, result)
        if isinstance(step, Admitted):
            return run_transactional(job, work)  # taken over a stale default-mode admission: committed
        if not isinstance(step, Waiting):
            return step
        if time.monotonic() >= deadline:
            return InFlight()
        release_connection(job.alias)
        time.sleep(_pause(delay, deadline))
        delay = min(delay * POLL_FACTOR, POLL_MAX)


def _one_commit_attempt(job: Job, work: SyncWork, store: InTransactionStore) -> Outcome | Admission:
    """One transaction: admit, run, seal; an admission that is not ours is handed back, rolled back."""
    alias = job.alias
    assert alias is not None
    log, describe = work.log, work.describe
    phase = Phase.WORK
    settled: Settlement | None = None
    admission: Admission | None = None
    try:
        with transaction.atomic(using=alias):
            admission = store.admit_in_transaction(
                job.key.operation_id,
                fingerprint=job.fingerprint,
                lease=job.policy.lease,
                method=work.label,
                key=job.key.key,
            )
            if admission.outcome is not AdmissionOutcome.ADMITTED:
                transaction.set_rollback(True, using=alias)
                return admission
            assert admission.token is not None
            job.token = admission.token
            job.admitted_at = time.monotonic()
            settled = work.settle(work.run(alias), job)
            if settled.action is SettleAction.SEAL and transaction.get_rollback(using=alias):
                settled.action = SettleAction.ROLLBACK
            if settled.action is SettleAction.SEAL:
                phase = Phase.SEAL
                _seal(job, settled)
                phase = Phase.COMMIT
            elif settled.action is SettleAction.ROLLBACK:
                transaction.set_rollback(True, using=alias)
            else:
                store.discard_in_transaction(job.key.operation_id, job.token)
    except Exception as exc:
        # Whatever was written is rolled back with the admission: a retry runs the work again.
        if phase is Phase.WORK:
            if admission is None and store.waited_out(exc):
                # Another transaction held the lock we wait for to admit (SQLite's writer lock, taken
                # already at BEGIN with transaction_mode IMMEDIATE): as when the INSERT waits it out.
                return Admission(AdmissionOutcome.IN_FLIGHT)
            raise
        if phase is Phase.SEAL or not isinstance(exc, DatabaseError):
            log.exception("op_store: sealing %s failed; its writes were rolled back", describe(job))
            return SealFailed(outcome_unknown=False)
        log.exception("op_store: committing %s failed; its outcome is unknown", describe(job))
        return SealFailed(outcome_unknown=True)
    assert settled is not None
    if settled.action is SettleAction.SEAL and observer is not None:
        observer.sealed(job, settled)
    return Executed(settled.result, settled.action)


# --- entry points ------------------------------------------------------------------------------


def run(work: SyncWork, key: OperationKey | None, policy: Policy, atomic_aliases: Sequence[str]) -> Outcome:
    """The whole way of one synchronous request or call: admit, decide, wait, run, seal or release.

    ``atomic_aliases``: the databases whose ``ATOMIC_REQUESTS`` transaction the work opens around
    itself (Django was told not to); the store's own alias among them makes the run transactional.
    """
    outcome = _run(work, key, policy, atomic_aliases)
    if observer is not None:
        observer.ended(work, outcome)
    return outcome


def _run(work: SyncWork, key: OperationKey | None, policy: Policy, atomic_aliases: Sequence[str]) -> Outcome:
    step = begin(work, key, policy, atomic_aliases, is_async=False)
    if isinstance(step, Waiting):
        step = wait_sync(step.job)
    if step is PLAIN:
        return Untracked(work.run(None))
    if isinstance(step, OneCommit):
        return run_one_commit(step.job, work)
    if not isinstance(step, Admitted):
        return step
    job = step.job
    if job.transactional:
        return run_transactional(job, work)
    try:
        result = work.run(None)
    except BaseException:
        release(job)
        raise
    return finish(job, result)


async def arun(work: AsyncWork, key: OperationKey | None, policy: Policy) -> Outcome:
    """The way of one asynchronous request: store calls run via ``sync_to_async``, the work never in a transaction."""
    outcome = await _arun(work, key, policy)
    if observer is not None:
        observer.ended(work, outcome)
    return outcome


async def _arun(work: AsyncWork, key: OperationKey | None, policy: Policy) -> Outcome:
    step = await sync_to_async(begin, thread_sensitive=True)(work, key, policy, (), is_async=True)
    if isinstance(step, Waiting):
        step = await wait_async(step.job)
    if step is PLAIN:
        return Untracked(await work.run())
    assert not isinstance(step, OneCommit)  # async work never runs in a transaction
    if not isinstance(step, Admitted):
        return step
    job = step.job
    try:
        result = await work.run()
    except BaseException:
        await sync_to_async(release, thread_sensitive=True)(job)
        raise
    return await sync_to_async(finish, thread_sensitive=True)(job, result)
