"""Running one RPC call, exactly once when it carries an operation id (vox's driver rules, DESIGN §4, §7).

::

    idempotent method, or no operation id -> run the method (no store)
    operation id -> scope (the lifecycle's resolver) -> store.try_admit(id, fingerprint)
      admitted  -> run the method -> seal the reply bytes (root TypeRef + schema registry) -> reply
      sealed    -> the sealed bytes, byte for byte (Idempotent-Replayed: true)
      in flight -> poll (bounded by ``wait``, no connection held between polls) -> replay;
                   still running -> 409 in-flight problem with Retry-After (the client retries, same id)
      stale     -> Err(Indeterminate), or take over and run when the stale policy allows it
      conflict  -> Err(InvalidPayload("operation ID conflict"))
      expired   -> Err(Indeterminate) (the outcome existed but is purged; never run again)

The fingerprint is BLAKE3 over the method id and the canonical postcard bytes of the argument
tuple, so a retry that sends the same arguments as JSON instead of postcard is still the same call.
Arguments that do not decode are answered ``Err(InvalidPayload)`` before any admission: nothing is
stored for them, and a retry gets the same answer. Without an operation id a non-idempotent call runs
untracked (as vox runs calls that carry none), unless the site requires ids.

Transactions. An ``atomic`` method (the default) runs in a transaction on the store's database and
its reply is sealed inside it: the method's writes and the sealed reply commit together or not at
all. The admission commits before, on its own, so it is visible to duplicates while the method
runs and it records that the call is transactional (a stale transactional admission provably did
nothing, so ``STALE_POLICY = "reexecute_if_transactional"`` may safely run it again). A
``UserError`` rolls the method's writes back (a savepoint) and its ``Err`` is sealed.

Failures. A method that raises anything but ``UserError`` (or returns a value that does not fit its
return type) has its writes rolled back and its admission released, and the caller gets a 500
``method-failed`` problem: nothing happened, so a retry with the same id runs it again. That
differs from vox, which answers Indeterminate to every later retry of a crashed handler; here the
transaction proves the crash left no effect. For a non-atomic method the writes it made before
raising stay (it chose not to be atomic), and the admission is released all the same (as the
HTTP lifecycle does for a 5xx); make such methods atomic if a retry must not repeat partial effects.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import DatabaseError, transaction
from django.http import HttpRequest, HttpResponse

from op_store.lifecycle import engine
from op_store.lifecycle import problems as lp
from op_store.lifecycle.problems import ProblemError, problem_response
from op_store.signals import operation_replayed
from op_store.store.base import Admission, AdmissionOutcome, LeasedOperationStore, OwnershipLostError
from op_store.vox import Err, Ok, SchemaSource, TypeRef

from . import problems as rp
from .errors import CONFLICT_MESSAGE, UserError, VoxError
from .fingerprint import call_fingerprint
from .service import MethodSpec, Service
from .wire import ChainedSchemaSource

log = logging.getLogger("op_store.rpc")


StoreFactory = Callable[[str], LeasedOperationStore]
ScopeResolver = Callable[[HttpRequest], str]


@dataclass(frozen=True, slots=True)
class RpcPolicy:
    """The settings one call runs under (site options over ``OP_STORE``), resolved per request."""

    store: StoreFactory
    scope: ScopeResolver
    lease: timedelta
    wait: float
    stale: str
    require_operation_id: bool
    max_response_bytes: int


@dataclass(frozen=True, slots=True)
class Reply:
    """An RPC reply: postcard bytes of ``Result[T, VoxError[E]]``, their root type, and where schemas are."""

    body: bytes
    root: TypeRef
    method_id: int | None
    source: SchemaSource
    replayed: bool = False


Outcome = Reply | HttpResponse


@dataclass(slots=True)
class Call:
    """One decoded call: the method, its argument tuple and their canonical postcard bytes."""

    request: HttpRequest
    method: MethodSpec
    args: tuple[Any, ...]
    canonical: bytes
    operation_id: int | None

    @property
    def fingerprint(self) -> bytes:
        """Of the decoded arguments re-encoded canonically: the same call, however it was spelled."""
        return call_fingerprint(self.method.method_id, self.args, self.method.args_codec)

    def describe(self) -> str:
        op = f" operation {self.operation_id:#018x}" if self.operation_id is not None else ""
        return f"RPC {self.method.label}{op}"


def error_reply(method: MethodSpec, error: Any, source: SchemaSource | None = None) -> Reply:
    """``Err(error)`` encoded under the method's own reply type (vox advertises the method's schema)."""
    body = method.reply_codec.encode(Err(error))
    return Reply(body, method.reply_root, method.method_id, source or method.registry)


class MethodFailed(Exception):
    """The method raised, or returned a value its return type cannot encode."""


class ReplyTooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def _invoke(call: Call, alias: str | None) -> bytes:
    """Run the method (in a transaction on ``alias`` if given) and encode its Result; ``MethodFailed`` else."""
    method = call.method
    try:
        try:
            fn = getattr(method_owner(call), method.name)
            with ExitStack() as stack:
                for other in engine.atomic_request_aliases(set()):  # ATOMIC_REQUESTS, as Django would
                    if other != alias:
                        stack.enter_context(transaction.atomic(using=other))
                if alias is not None:
                    stack.enter_context(transaction.atomic(using=alias))
                result: Any = Ok(fn(*call.args))
        except UserError as exc:
            result = Err(VoxError.User(exc.value))
        return method.reply_codec.encode(result)
    except Exception as exc:
        raise MethodFailed(str(exc)) from exc


def method_owner(call: Call) -> Any:
    """A fresh service instance; a :class:`Service` learns the request and the operation id."""
    instance = call.method.owner()
    if isinstance(instance, Service):
        instance.request = call.request
        instance.operation_id = call.operation_id
    return instance


def _failed(call: Call, exc: BaseException) -> HttpResponse:
    log.error("op_store: %s failed", call.describe(), exc_info=exc.__cause__ or exc)
    return problem_response(
        rp.METHOD_FAILED,
        "The method raised an unexpected error. An atomic method's writes were rolled back and nothing was "
        "recorded for the operation id, so a retry with the same operation id runs the method again.",
    )


def _too_large(call: Call, size: int, limit: int) -> HttpResponse:
    log.error(
        "op_store: the %d-byte reply of %s exceeds MAX_RESPONSE_BYTES (%d); not sealed", size, call.describe(), limit
    )
    return problem_response(
        lp.RESPONSE_TOO_LARGE,
        f"The reply ({size} bytes) is larger than this server stores for replays (MAX_RESPONSE_BYTES = {limit}), "
        "so it was not delivered.",
        response_bytes=size,
        max_response_bytes=limit,
    )


def default_alias() -> str:
    """The database an untracked atomic method runs its transaction on: the store's."""
    from op_store.store.orm import store_alias

    return store_alias()


def run_untracked(call: Call) -> Outcome:
    """An idempotent method, or a call without an operation id: run it, nothing stored."""
    alias = default_alias() if call.method.atomic else None
    try:
        body = _invoke(call, alias)
    except MethodFailed as exc:
        return _failed(call, exc)
    return Reply(body, call.method.reply_root, call.method.method_id, call.method.registry)


def execute(call: Call, policy: RpcPolicy) -> Outcome:
    """The call's outcome: untracked, or exactly once through the store (see the module docstring)."""
    if call.method.idempotent:
        return run_untracked(call)
    if call.operation_id is None:
        if policy.require_operation_id:
            return problem_response(
                lp.MISSING_KEY,
                "Calls of this method need a Vox-Operation-Id header (a u64 the client picks per logical call "
                "and repeats on every retry).",
            )
        return run_untracked(call)
    try:
        scope = policy.scope(call.request)
    except ProblemError as exc:
        return exc.response()
    if not isinstance(scope, str):
        raise TypeError(f"op_store scope resolver must return a str, got {type(scope).__name__}")
    return Tracked(call, policy, policy.store(scope), scope).run()


class Tracked:
    """One call with an operation id, through the store."""

    def __init__(self, call: Call, policy: RpcPolicy, store: LeasedOperationStore, scope: str) -> None:
        assert call.operation_id is not None
        self.call = call
        self.operation_id: int = call.operation_id
        self.policy = policy
        self.store = store
        self.scope = scope
        self.alias = engine.store_alias(store)
        atomic_requests = self.alias is not None and self.alias in engine.atomic_request_aliases(set())
        self.transactional = self.alias is not None and (call.method.atomic or atomic_requests)
        self.fingerprint = call.fingerprint
        self._source: SchemaSource | None = None

    @property
    def source(self) -> SchemaSource:
        """Where a reply's schemas are: the method's registry, then the store (older sealed types)."""
        if self._source is None:
            self._source = ChainedSchemaSource([self.call.method.registry, self.store.schema_source()])
        return self._source

    def admit(self) -> Admission:
        return self.store.try_admit(
            self.operation_id,
            fingerprint=self.fingerprint,
            lease=self.policy.lease,
            method=self.call.method.label,
            transactional=self.transactional,
        )

    def run(self) -> Outcome:
        return self.decide(self.admit(), may_wait=True)

    def decide(self, admission: Admission, *, may_wait: bool) -> Outcome:
        outcome = admission.outcome
        method = self.call.method
        if outcome is AdmissionOutcome.ADMITTED:
            assert admission.token is not None
            return self.execute(admission.token)
        if outcome is AdmissionOutcome.SEALED:
            return self.replay(admission)
        if outcome is AdmissionOutcome.IN_FLIGHT:
            if may_wait and self.policy.wait > 0:
                return self.wait()
            return self.in_flight()
        if outcome is AdmissionOutcome.STALE:
            return self.stale(admission)
        if outcome is AdmissionOutcome.CONFLICT:
            return error_reply(method, VoxError.InvalidPayload(CONFLICT_MESSAGE))
        log.warning("op_store: %s expired (its sealed reply was purged); answered Indeterminate", self.call.describe())
        return error_reply(method, VoxError.Indeterminate())

    def in_flight(self) -> HttpResponse:
        return problem_response(
            lp.IN_FLIGHT,
            "A call with this operation id is still running. Retry later with the same operation id to get its result.",
            retry_after=engine.RETRY_AFTER,
        )

    def wait(self) -> Outcome:
        """Poll with backoff until the running call settles or ``wait`` runs out; no connection held meanwhile."""
        deadline = time.monotonic() + self.policy.wait
        delay = engine.POLL_FIRST
        while True:
            engine._release_connection(self.alias)
            time.sleep(max(0.0, min(delay, deadline - time.monotonic())))
            delay = min(delay * engine.POLL_FACTOR, engine.POLL_MAX)
            admission = self.admit()
            if admission.outcome is not AdmissionOutcome.IN_FLIGHT:
                return self.decide(admission, may_wait=False)
            if time.monotonic() >= deadline:
                return self.in_flight()

    def stale(self, admission: Admission) -> Outcome:
        """Admitted, never sealed, lease gone: vox answers Indeterminate; a policy may take it over."""
        policy = self.policy.stale
        if policy == "reexecute" or (policy == "reexecute_if_transactional" and admission.transactional):
            assert admission.token is not None
            taken = self.store.take_over(
                self.operation_id,
                admission.token,
                lease=self.policy.lease,
                transactional=self.transactional,
                fingerprint=self.fingerprint,
            )
            if taken.outcome is AdmissionOutcome.ADMITTED:
                log.warning("op_store: %s was stale; taken over and run again", self.call.describe())
            if taken.outcome is not AdmissionOutcome.STALE:
                return self.decide(taken, may_wait=False)
        log.warning("op_store: %s is stale (started, never finished); answered Indeterminate", self.call.describe())
        return error_reply(self.call.method, VoxError.Indeterminate())

    def replay(self, admission: Admission) -> Reply:
        sealed = admission.sealed
        assert sealed is not None
        operation_replayed.send(
            sender=type(self.store),
            store=self.store,
            scope=self.scope,
            operation_id=self.operation_id,
            key="",
            status_code=sealed.status_code,
            request=self.call.request,
        )
        return Reply(sealed.response, sealed.root_type, self.call.method.method_id, self.source, replayed=True)

    def release(self, token: int) -> None:
        """Drop our admission so a retry runs again; a failure is logged (the lease then runs out)."""
        try:
            self.store.release(self.operation_id, token)
        except Exception:
            log.exception(
                "op_store: could not release %s; it stays admitted until its lease expires", self.call.describe()
            )

    def seal(self, token: int, body: bytes) -> None:
        method = self.call.method
        self.store.seal_owned(self.operation_id, token, body, method.reply_root, method.registry, status_code=200)

    def checked(self, body: bytes) -> bytes:
        if len(body) > self.policy.max_response_bytes:
            raise ReplyTooLarge(len(body))
        return body

    def reply(self, body: bytes) -> Reply:
        method = self.call.method
        return Reply(body, method.reply_root, method.method_id, method.registry)

    def execute(self, token: int) -> Outcome:
        if self.transactional:
            return self.execute_transactional(token)
        # A store outside the database (in memory): an atomic method still gets its own transaction.
        alias = default_alias() if self.call.method.atomic and self.alias is None else None
        try:
            body = self.checked(_invoke(self.call, alias))
        except MethodFailed as exc:
            self.release(token)
            return _failed(self.call, exc)
        except ReplyTooLarge as exc:
            self.release(token)
            return _too_large(self.call, exc.size, self.policy.max_response_bytes)
        except BaseException:
            self.release(token)
            raise
        try:
            self.seal(token, body)
        except OwnershipLostError:
            log.warning("op_store: %s was taken over while it ran; its reply was not sealed", self.call.describe())
        except Exception:
            # The method's effects are committed; re-running it could repeat them. Keep the admission
            # (a retry is answered as the stale policy says) and give this caller the reply.
            log.exception("op_store: sealing %s failed; it stays admitted and will not be re-run", self.call.describe())
        return self.reply(body)

    def execute_transactional(self, token: int) -> Outcome:
        """Method and seal in one transaction on the store's database; see the module docstring."""
        alias = self.alias
        assert alias is not None
        phase = "method"
        try:
            with transaction.atomic(using=alias):
                body = self.checked(_invoke(self.call, alias))  # its own savepoint: UserError rolls back
                phase = "seal"
                self.seal(token, body)
                phase = "commit"
        except OwnershipLostError:
            log.warning("op_store: %s was taken over while it ran; its writes were rolled back", self.call.describe())
            return problem_response(
                lp.OWNERSHIP_LOST,
                "This call's lease on the operation ran out and another call took it over; this call's effects "
                "were rolled back. Retry with the same operation id to get the outcome.",
                retry_after=engine.RETRY_AFTER,
            )
        except MethodFailed as exc:
            self.release(token)
            return _failed(self.call, exc)
        except ReplyTooLarge as exc:
            self.release(token)
            return _too_large(self.call, exc.size, self.policy.max_response_bytes)
        except Exception as exc:
            if phase == "seal" or not isinstance(exc, DatabaseError):
                log.exception("op_store: sealing %s failed; its writes were rolled back", self.call.describe())
                self.release(token)
                detail = "The call's effects were rolled back; retrying with the same operation id runs it again."
            else:
                log.exception("op_store: committing %s failed; its outcome is unknown", self.call.describe())
                detail = (
                    "Committing the call failed, so it may or may not have taken effect. Retrying with the same "
                    "operation id returns its result if it committed."
                )
            return problem_response(
                lp.SEAL_FAILED, f"The operation could not be recorded. {detail}", retry_after=engine.RETRY_AFTER
            )
        except BaseException:
            self.release(token)
            raise
        return self.reply(body)
