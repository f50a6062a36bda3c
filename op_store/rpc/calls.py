"""One RPC call as runner work: decoding is done, this runs the method and settles its reply.

::

    idempotent method, or no operation id -> run the method (no store)
    operation id -> the runner (op_store.engine.runner): admit, decide, wait, take over, run, seal
      admitted  -> run the method -> seal the reply bytes (root TypeRef + schema registry) -> reply
      sealed    -> the sealed bytes, byte for byte (Idempotent-Replayed: true)
      in flight -> poll (bounded by ``wait``) -> replay; still running -> 409 in-flight problem
      stale     -> Err(Indeterminate), or take over and run when the stale policy allows it
      conflict  -> Err(InvalidPayload("operation ID conflict"))
      expired   -> Err(Indeterminate) (the outcome existed but is purged; never run again)

:mod:`.responder` turns the runner's outcome into a :class:`Reply` or a problem. Arguments that do
not decode are answered ``Err(InvalidPayload)`` by the view before any admission: nothing is stored
for them, and a retry gets the same answer. Without an operation id a non-idempotent call runs
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

A reply over ``MAX_RESPONSE_BYTES`` is refused with a 500 ``response-too-large`` problem. Rolled back
with the runner's transaction, the call is released; otherwise (a non-atomic method, a store outside
the database) its writes stand, so the refusal is sealed in the reply's place and replayed to every
retry (``docs/architecture.md``, "Never release a key whose work may have had effects").
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import DEFAULT_DB_ALIAS
from django.http import HttpRequest, HttpResponse

from op_store.engine.outcomes import SettleAction, Settlement
from op_store.engine.policy import Policy, ScopeResolver, StoreFactory, default_store
from op_store.engine.runner import database_of
from op_store.engine.transactions import wrap_atomic
from op_store.lifecycle.reply import encode_reply, problem_reply, reply_schema
from op_store.problems import response_too_large
from op_store.vox import Err, Ok, SchemaSource, TypeRef

from .errors import UserError, VoxError
from .fingerprint import call_fingerprint
from .service import MethodSpec, Service

if TYPE_CHECKING:
    from op_store.engine.runner import Job

log = logging.getLogger("op_store.rpc")


#: The one policy type of HTTP views and RPC sites (kept under its old name).
RpcPolicy = Policy

__all__ = [
    "Call",
    "CallWork",
    "MethodFailed",
    "Reply",
    "ReplyTooLarge",
    "RpcPolicy",
    "ScopeResolver",
    "StoreFactory",
    "error_reply",
    "method_owner",
]


@dataclass(frozen=True, slots=True)
class Reply:
    """An RPC reply: postcard bytes of ``Result[T, VoxError[E]]``, their root type, and where schemas are."""

    body: bytes
    root: TypeRef
    method_id: int | None
    source: SchemaSource
    replayed: bool = False


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
    """The encoded reply is larger than ``MAX_RESPONSE_BYTES``: it is not sealed, the caller is told.

    ``recorded``: the method's effects stand (it ran outside the runner's transaction), so the refusal
    is sealed for the operation id in the reply's place and a retry gets it again.
    """

    def __init__(self, size: int, limit: int, recorded: bool = False) -> None:
        super().__init__(size, limit, recorded)
        self.size = size
        self.limit = limit
        self.recorded = recorded

    def response(self) -> HttpResponse:
        """The refusal, as answered now and (when recorded) replayed later."""
        return response_too_large(self.size, self.limit, recorded=self.recorded)


def method_owner(call: Call) -> Any:
    """A fresh service instance; a :class:`Service` learns the request and the operation id."""
    instance = call.method.owner()
    if isinstance(instance, Service):
        instance.request = call.request
        instance.operation_id = call.operation_id
    return instance


def default_database() -> str:
    """The database an atomic method runs its transaction on when the store is not in one: the default store's."""
    return database_of(default_store("")) or DEFAULT_DB_ALIAS


class CallWork:
    """A call as runner work: the method runs with its writes and its reply's seal in one transaction.

    :meth:`run` returns the encoded ``Result`` bytes, or the :class:`MethodFailed` it caught (a value,
    so that the runner settles it: roll back, release the admission, and say so).
    """

    log = log
    transport = "rpc"

    def __init__(self, call: Call, atomic_aliases: Sequence[str]) -> None:
        self.call = call
        self.request = call.request
        self.label = call.method.label
        self.atomic = call.method.atomic
        self.exactly_once = not call.method.idempotent
        self.atomic_aliases = atomic_aliases

    def fingerprint(self, policy: Policy) -> bytes:
        return self.call.fingerprint

    def describe(self, job: Job) -> str:
        return self.call.describe()

    def run(self, inside: str | None) -> bytes | MethodFailed:
        """Run the method (in a transaction: ``inside`` the runner's, else its own if it is atomic)."""
        alias = inside if inside is not None else (default_database() if self.atomic else None)
        try:
            return self._invoke(alias)
        except MethodFailed as exc:
            return exc

    def _invoke(self, alias: str | None) -> bytes:
        """The method's ``Result``, encoded; its own savepoint on ``alias`` rolls a ``UserError`` back."""
        method = self.call.method
        try:
            fn = getattr(method_owner(self.call), method.name)
            try:
                result: Any = Ok(self._in_transactions(lambda: fn(*self.call.args), alias)())
            except UserError as exc:
                result = Err(VoxError.User(exc.value))
            return method.reply_codec.encode(result)
        except Exception as exc:
            raise MethodFailed(str(exc)) from exc

    def _in_transactions(self, call: Any, alias: str | None) -> Any:
        """``call`` inside ``ATOMIC_REQUESTS`` transactions (as Django would open them) and one on ``alias``."""
        if alias is not None:
            call = wrap_atomic(call, [alias])
        return wrap_atomic(call, [other for other in self.atomic_aliases if other != alias])

    def settle(self, result: bytes | MethodFailed, job: Job) -> Settlement:
        if isinstance(result, MethodFailed):
            return Settlement(result, SettleAction.ROLLBACK)
        limit = job.policy.max_response_bytes
        if len(result) > limit:
            # Rolled back with the runner's transaction, the call left nothing and may run again; else
            # its writes are committed (the store is outside the database, or the method is not
            # atomic) and a second run must not happen: the refusal is sealed in the reply's place.
            too_large = ReplyTooLarge(len(result), limit, recorded=not job.transactional)
            if not too_large.recorded:
                return Settlement(too_large, SettleAction.ROLLBACK)
            root, registry = reply_schema()
            refusal = too_large.response()
            data = encode_reply(problem_reply(refusal))
            return Settlement(too_large, SettleAction.SEAL, data, root, registry, refusal.status_code)
        method = self.call.method
        return Settlement(result, SettleAction.SEAL, result, method.reply_root, method.registry, 200)
