"""The request lifecycle: admit, run, seal or release, replay (DESIGN §6).

``handle`` (sync) and ``ahandle`` (async) wrap one view call. Both the decorator and the middleware
go through them, so a view behaves the same whichever applies exactly-once to it.

Flow for a request that carries a key::

    key -> scope -> fingerprint -> store.try_admit
      admitted  -> run the view -> seal the reply (or release the admission) -> the view's reply
      sealed    -> the stored reply, plus ``Idempotent-Replayed: true``
      in flight -> 409 in-flight + Retry-After, or wait (polling, bounded) and replay
      stale     -> 409 indeterminate, or take over (compare-and-set) and run
      conflict  -> 422 fingerprint-mismatch;  expired -> 410

Transactions. When the view runs in a transaction on the store's database (``atomic=True``, or
``ATOMIC_REQUESTS`` on that alias), the lifecycle opens that transaction itself, *after* the
admission committed: admission (autocommit) -> BEGIN -> view -> seal -> COMMIT. The seal joins the
view's transaction, so the view's writes and the sealed reply commit together or not at all, and
after a rollback the admission can be released (the view provably did nothing). To own those
boundaries, a view wrapped by the lifecycle declares itself non-atomic to Django (Django's own
``ATOMIC_REQUESTS`` wrapping would otherwise sit outside the admission) and applies
``ATOMIC_REQUESTS`` itself, for every alias, exactly as Django would.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.db import DatabaseError, connections, transaction
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from op_store.signals import operation_replayed
from op_store.store.base import Admission, AdmissionOutcome, LeasedOperationStore, OwnershipLostError

from . import problems as p
from .fingerprints import django_request
from .keys import MalformedKeyError, OperationKey, key_from_request
from .policy import Options, Policy
from .problems import ProblemError, problem_response
from .reply import HttpReply, decode_reply, encode_reply, replay_response, reply_from_response, reply_schema

log = logging.getLogger("op_store.lifecycle")

SyncView = Callable[[], Any]
AsyncView = Callable[[], Awaitable[Any]]

#: Polling an in-flight operation: first pause, growth factor, longest pause (seconds).
POLL_FIRST, POLL_FACTOR, POLL_MAX = 0.02, 1.6, 0.5
#: Retry-After (seconds) sent with 409 in-flight / ownership-lost and 503 seal-failed.
RETRY_AFTER = 1


# --- the pieces of one request ---------------------------------------------------------------


@dataclass(slots=True)
class Ticket:
    """One keyed request on its way through the lifecycle."""

    request: HttpRequest
    policy: Policy
    key: OperationKey
    scope: str
    fingerprint: bytes
    store: LeasedOperationStore
    alias: str | None
    transactional: bool
    token: int | None = None

    def describe(self) -> str:
        key = f" key={self.key.key!r}" if self.key.key else ""
        return f"operation {self.key.operation_id:#018x} (scope {self.scope!r}{key})"


class Plain:
    """No key, none required: run the view as if the lifecycle were not there."""


@dataclass(slots=True)
class Run:
    """The request owns the operation (``token``): run the view."""

    token: int


@dataclass(slots=True)
class Answer:
    """Answer without running the view (a replay or a problem)."""

    response: HttpResponseBase


class Wait:
    """Another owner is running it and a wait is configured: poll until it settles."""


Step = Plain | Run | Answer | Wait


def default_store(scope: str) -> LeasedOperationStore:
    from op_store.store.orm import DjangoOperationStore

    return DjangoOperationStore(scope=scope)


def store_alias(store: LeasedOperationStore) -> str | None:
    """The database alias an ORM store writes to (its ``alias``), None for stores outside the database."""
    alias = getattr(store, "alias", None)
    return alias if isinstance(alias, str) else None


class AllAliases(set[str]):
    """A ``_non_atomic_requests`` that tells Django "no alias": the lifecycle applies them itself.

    Django's ``make_view_atomic`` asks ``alias in view._non_atomic_requests``; this answers yes for
    every alias, so Django never wraps the view. The aliases really declared non-atomic (by
    ``transaction.non_atomic_requests``) are the set's real members (iteration sees only those).
    """

    def __contains__(self, alias: object) -> bool:
        return True


def atomic_request_aliases(non_atomic: object) -> list[str]:
    """Aliases whose ``ATOMIC_REQUESTS`` applies to a view with this ``_non_atomic_requests``, in settings order."""
    declared = set(non_atomic) if isinstance(non_atomic, set) else set()
    return [
        alias for alias, conf in connections.settings.items() if conf.get("ATOMIC_REQUESTS") and alias not in declared
    ]


def _wrap_atomic(call: SyncView, aliases: list[str]) -> SyncView:
    for alias in aliases:
        call = transaction.atomic(using=alias)(call)
    return call


def _in_outer_atomic(alias: str) -> bool:
    """In a transaction on ``alias`` that a test case did not open (those are not the view's)."""
    return any(not getattr(block, "_from_testcase", False) for block in connections[alias].atomic_blocks)


def _release_connection(alias: str | None) -> None:
    """Give the connection back while waiting, unless a transaction still needs it."""
    if alias is not None and not connections[alias].in_atomic_block:
        connections[alias].close()


# --- admission -------------------------------------------------------------------------------


def start(
    request: HttpRequest, options: Options, atomic_aliases: list[str], *, is_async: bool
) -> tuple[Ticket | None, Step]:
    """Everything before the view: key, scope, fingerprint, admission. Synchronous (ORM)."""
    policy = options.resolve(request)
    try:
        key = key_from_request(request)
    except MalformedKeyError as exc:
        return None, Answer(problem_response(p.MALFORMED_KEY, str(exc)))
    if key is None:
        if policy.required:
            return None, Answer(
                problem_response(
                    p.MISSING_KEY,
                    f"{request.method} requests to this endpoint need an Idempotency-Key header (1 to 255 "
                    "visible ASCII characters, the same on every retry).",
                )
            )
        return None, Plain()
    try:
        scope = policy.scope(request)
        fingerprint = policy.fingerprint(request)
    except ProblemError as exc:
        return None, Answer(exc.response())
    if not isinstance(scope, str):
        raise TypeError(f"op_store scope resolver must return a str, got {type(scope).__name__}")
    if not isinstance(fingerprint, bytes):
        raise TypeError(f"op_store fingerprint must return bytes, got {type(fingerprint).__name__}")
    store = (policy.store or default_store)(scope)
    alias = store_alias(store)
    transactional = False
    if alias is not None and not is_async:
        transactional = policy.atomic or alias in atomic_aliases or _in_outer_atomic(alias)
    ticket = Ticket(request, policy, key, scope, fingerprint, store, alias, transactional)
    admission = store.try_admit(
        key.operation_id,
        fingerprint=fingerprint,
        lease=policy.lease,
        method=f"{request.method} {request.path}"[:200],
        key=key.key,
        transactional=transactional,
    )
    return ticket, decide(ticket, admission)


def decide(ticket: Ticket, admission: Admission) -> Step:
    """What an admission outcome means for this request."""
    outcome = admission.outcome
    if outcome is AdmissionOutcome.ADMITTED:
        assert admission.token is not None
        ticket.token = admission.token
        return Run(admission.token)
    if outcome is AdmissionOutcome.SEALED:
        assert admission.sealed is not None
        return Answer(replay(ticket, admission))
    if outcome is AdmissionOutcome.IN_FLIGHT:
        return Wait() if ticket.policy.wait > 0 else Answer(in_flight(ticket))
    if outcome is AdmissionOutcome.STALE:
        return stale(ticket, admission)
    if outcome is AdmissionOutcome.CONFLICT:
        return Answer(
            problem_response(
                p.FINGERPRINT_MISMATCH,
                "This idempotency key was already used for a different request (method, path, query or "
                "body differ). Use a new key for a new request.",
            )
        )
    return Answer(
        problem_response(
            p.EXPIRED,
            "This operation completed, but its stored result has been purged. It will not run again; "
            "use a new key for a new request.",
        )
    )


def in_flight(ticket: Ticket) -> HttpResponseBase:
    return problem_response(
        p.IN_FLIGHT,
        "A request with this idempotency key is still being processed. Retry later with the same key to "
        "get its result.",
        retry_after=RETRY_AFTER,
    )


def stale(ticket: Ticket, admission: Admission) -> Step:
    """A lease expired before a seal: fail closed, or take over when the policy allows it."""
    policy = ticket.policy.stale
    if policy == "reexecute" or (policy == "reexecute_if_transactional" and admission.transactional):
        assert admission.token is not None
        taken = ticket.store.take_over(
            ticket.key.operation_id,
            admission.token,
            lease=ticket.policy.lease,
            transactional=ticket.transactional,
            fingerprint=ticket.fingerprint,
        )
        if taken.outcome is AdmissionOutcome.ADMITTED:
            log.warning("op_store: %s was stale; taken over and run again", ticket.describe())
        if taken.outcome is not AdmissionOutcome.STALE:
            return decide(ticket, taken)
    log.warning("op_store: %s is stale (started, never finished); answered indeterminate", ticket.describe())
    return Answer(
        problem_response(
            p.INDETERMINATE,
            "A request with this idempotency key started earlier but never finished, and it may or may not "
            "have taken effect. It will not be run again automatically; check the outcome before retrying "
            "with a new key.",
        )
    )


def replay(ticket: Ticket, admission: Admission) -> HttpResponseBase:
    sealed = admission.sealed
    assert sealed is not None
    root, _ = reply_schema()
    if sealed.root_type != root:
        return problem_response(
            p.FINGERPRINT_MISMATCH,
            "This operation id holds a reply of another kind (not an HTTP reply); use a new key.",
        )
    try:
        reply = decode_reply(sealed.response)
    except Exception:
        log.exception("op_store: the sealed reply of %s cannot be decoded", ticket.describe())
        return problem_response(p.UNREADABLE_REPLY, "The stored reply of this operation cannot be decoded.")
    _send_replayed(ticket, reply)
    return replay_response(reply)


def _send_replayed(ticket: Ticket, reply: HttpReply) -> None:
    operation_replayed.send(
        sender=type(ticket.store),
        store=ticket.store,
        scope=ticket.scope,
        operation_id=ticket.key.operation_id,
        key=ticket.key.key,
        status_code=reply.status,
        request=ticket.request,
    )


def poll(ticket: Ticket) -> Step:
    """Ask the store again (while waiting): maybe sealed now, released, or stale."""
    admission = ticket.store.try_admit(
        ticket.key.operation_id,
        fingerprint=ticket.fingerprint,
        lease=ticket.policy.lease,
        method=f"{ticket.request.method} {ticket.request.path}"[:200],
        key=ticket.key.key,
        transactional=ticket.transactional,
    )
    return decide(ticket, admission)


def _pause(delay: float, deadline: float) -> float:
    return max(0.0, min(delay, deadline - time.monotonic()))


def wait_sync(ticket: Ticket) -> Step:
    """Poll with backoff until the operation settles or the wait runs out; no connection held between polls."""
    deadline = time.monotonic() + ticket.policy.wait
    delay = POLL_FIRST
    while True:
        _release_connection(ticket.alias)
        time.sleep(_pause(delay, deadline))
        delay = min(delay * POLL_FACTOR, POLL_MAX)
        step = poll(ticket)
        if not isinstance(step, Wait):
            return step
        if time.monotonic() >= deadline:
            return Answer(in_flight(ticket))


async def wait_async(ticket: Ticket) -> Step:
    deadline = time.monotonic() + ticket.policy.wait
    delay = POLL_FIRST
    while True:
        await sync_to_async(_release_connection, thread_sensitive=True)(ticket.alias)
        await asyncio.sleep(_pause(delay, deadline))
        delay = min(delay * POLL_FACTOR, POLL_MAX)
        step = await sync_to_async(poll, thread_sensitive=True)(ticket)
        if not isinstance(step, Wait):
            return step
        if time.monotonic() >= deadline:
            return Answer(in_flight(ticket))


# --- after the view --------------------------------------------------------------------------

SEAL, RELEASE, ROLLBACK = "seal", "release", "rollback"


@dataclass(slots=True)
class Settled:
    """What to do with a view's reply: seal ``data``, release, or release after rolling back."""

    response: Any
    action: str
    data: bytes = b""
    status: int = 0


def settle(ticket: Ticket, response: Any) -> Settled:
    """Decide a reply's fate by the seal policy (rendering a deferred response first).

    ``RELEASE`` keeps the view's writes (a reply the policy simply does not seal: streaming, 3xx,
    409...); ``ROLLBACK`` also undoes them in transactional mode (the client is told it failed: 5xx,
    a reply too large to store).
    """
    if not isinstance(response, HttpResponseBase):
        return Settled(response, ROLLBACK)  # Django will raise "didn't return an HttpResponse"
    render = getattr(response, "render", None)
    if callable(render) and not getattr(response, "is_rendered", True):
        response = render()
    if response.streaming:
        return Settled(response, RELEASE)
    status = response.status_code
    policy = ticket.policy
    if not policy.seals(status):
        return Settled(response, ROLLBACK if status >= 500 else RELEASE)
    body: bytes = response.content
    if len(body) > policy.max_response_bytes:
        log.error(
            "op_store: the %d-byte reply of %s exceeds MAX_RESPONSE_BYTES (%d); not sealed, admission released",
            len(body),
            ticket.describe(),
            policy.max_response_bytes,
        )
        refused = problem_response(
            p.RESPONSE_TOO_LARGE,
            f"The reply ({len(body)} bytes) is larger than this server stores for replays "
            f"(MAX_RESPONSE_BYTES = {policy.max_response_bytes}), so it was not delivered.",
            response_bytes=len(body),
            max_response_bytes=policy.max_response_bytes,
        )
        return Settled(refused, ROLLBACK)
    reply = reply_from_response(response, policy.stored_headers)
    return Settled(response, SEAL, encode_reply(reply), status)


def seal(ticket: Ticket, settled: Settled) -> None:
    root, registry = reply_schema()
    assert ticket.token is not None
    ticket.store.seal_owned(
        ticket.key.operation_id, ticket.token, settled.data, root, registry, status_code=settled.status
    )


def release(ticket: Ticket) -> None:
    """Drop our admission so a retry runs again; a failure is logged (the lease then runs out)."""
    assert ticket.token is not None
    try:
        ticket.store.release(ticket.key.operation_id, ticket.token)
    except Exception:
        log.exception("op_store: could not release %s; it stays admitted until its lease expires", ticket.describe())


def finish(ticket: Ticket, response: Any) -> Any:
    """Seal or release after a view that ran outside a transaction (its writes are committed)."""
    try:
        settled = settle(ticket, response)
    except BaseException:
        release(ticket)
        raise
    if settled.action != SEAL:
        release(ticket)
        return settled.response
    try:
        seal(ticket, settled)
    except OwnershipLostError:
        log.warning("op_store: %s was taken over while its view ran; its reply was not sealed", ticket.describe())
    except Exception:
        # The view's effects are committed; re-running it could repeat them. Keep the admission
        # (a retry is answered indeterminate) and give the client the view's reply.
        log.exception("op_store: sealing %s failed; it stays admitted and will not be re-run", ticket.describe())
    return settled.response


def run_transactional(ticket: Ticket, call_view: SyncView, other_aliases: list[str]) -> Any:
    """Run the view and seal inside one transaction on the store's database (see the module doc)."""
    alias = ticket.alias
    assert alias is not None
    phase = "view"
    settled: Settled | None = None
    try:
        with transaction.atomic(using=alias):
            response = _wrap_atomic(call_view, other_aliases)()
            settled = settle(ticket, response)
            if settled.action == SEAL and transaction.get_rollback(using=alias):
                settled.action = ROLLBACK  # something (e.g. DRF's exception handler) doomed the transaction
            if settled.action == SEAL:
                phase = "seal"
                seal(ticket, settled)
                phase = "commit"
            elif settled.action == ROLLBACK:
                transaction.set_rollback(True, using=alias)
    except OwnershipLostError:
        log.warning("op_store: %s was taken over while its view ran; its writes were rolled back", ticket.describe())
        return problem_response(
            p.OWNERSHIP_LOST,
            "This request's lease on the idempotency key ran out and another request took the operation "
            "over; this request's effects were rolled back. Retry with the same key to get the outcome.",
            retry_after=RETRY_AFTER,
        )
    except Exception as exc:
        if phase == "view":
            release(ticket)
            raise
        if phase == "seal" or not isinstance(exc, DatabaseError):
            log.exception("op_store: sealing %s failed; the view's writes were rolled back", ticket.describe())
            release(ticket)
            detail = "The request's effects were rolled back; retrying with the same key runs it again."
        else:
            log.exception("op_store: committing %s failed; its outcome is unknown", ticket.describe())
            detail = (
                "Committing the request failed, so it may or may not have taken effect. Retrying with the same "
                "key returns its result if it committed."
            )
        return problem_response(
            p.SEAL_FAILED, f"The operation could not be recorded. {detail}", retry_after=RETRY_AFTER
        )
    except BaseException:
        release(ticket)
        raise
    assert settled is not None
    if settled.action != SEAL:
        release(ticket)
    return settled.response


# --- entry points ----------------------------------------------------------------------------

_CLAIMED = "_op_store_lifecycle"


def _claim(request: HttpRequest) -> bool:
    """Mark the request as handled; True if it already was (a second decorator, or decorator + middleware)."""
    inner = django_request(request)
    if getattr(inner, _CLAIMED, False):
        return True
    setattr(inner, _CLAIMED, True)
    return False


def handle(request: HttpRequest, call_view: SyncView, options: Options, atomic_aliases: list[str]) -> Any:
    """The lifecycle around a synchronous view call.

    ``atomic_aliases``: the databases whose ``ATOMIC_REQUESTS`` transaction the lifecycle must open
    around the view (because Django was told not to; see :class:`AllAliases`).
    """
    if _claim(request):
        return _wrap_atomic(call_view, atomic_aliases)()
    ticket, step = start(request, options, atomic_aliases, is_async=False)
    if isinstance(step, Wait):
        assert ticket is not None
        step = wait_sync(ticket)
    if isinstance(step, Answer):
        return step.response
    aliases = atomic_aliases
    if isinstance(step, Plain):
        return _wrap_atomic(call_view, aliases)()
    assert ticket is not None
    if ticket.transactional:
        return run_transactional(ticket, call_view, [a for a in aliases if a != ticket.alias])
    try:
        response = _wrap_atomic(call_view, aliases)()
    except BaseException:
        release(ticket)
        raise
    return finish(ticket, response)


async def ahandle(request: HttpRequest, call_view: AsyncView, options: Options, atomic_aliases: list[str]) -> Any:
    """The lifecycle around an asynchronous view call; store calls run via ``sync_to_async``."""
    if atomic_aliases:
        raise RuntimeError("You cannot use ATOMIC_REQUESTS with async views.")  # as Django says
    if _claim(request):
        return await call_view()
    ticket, step = await sync_to_async(start, thread_sensitive=True)(request, options, [], is_async=True)
    if isinstance(step, Wait):
        assert ticket is not None
        step = await wait_async(ticket)
    if isinstance(step, Answer):
        return step.response
    if isinstance(step, Plain):
        return await call_view()
    assert ticket is not None
    try:
        response = await call_view()
    except BaseException:
        await sync_to_async(release, thread_sensitive=True)(ticket)
        raise
    return await sync_to_async(finish, thread_sensitive=True)(ticket, response)


def awaiting(call: Callable[[], Any]) -> AsyncView:
    """An async view call from a sync callable that returns a coroutine (an async view's dispatch)."""

    async def call_async() -> Any:
        result = call()
        if inspect.isawaitable(result):
            result = await result
        return result

    return call_async
