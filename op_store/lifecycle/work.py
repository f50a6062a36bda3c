"""A view call as runner work: how the runner runs a view and what it seals of its response."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest
from django.http.response import HttpResponseBase

from op_store.engine.outcomes import SettleAction, Settlement
from op_store.engine.policy import Policy
from op_store.engine.transactions import wrap_atomic
from op_store.problems import response_too_large

from .reply import encode_reply, problem_reply, reply_from_response, reply_schema

if TYPE_CHECKING:
    from op_store.engine.runner import Job

log = logging.getLogger("op_store.lifecycle")

SyncView = Callable[[], Any]
AsyncView = Callable[[], Awaitable[Any]]


class _ViewWork:
    """What sync and async views share: the request, the label, the fingerprint and the seal policy."""

    log = log
    exactly_once = True
    transport = "http"

    def __init__(self, request: HttpRequest, atomic: bool) -> None:
        self.request = request
        self.atomic = atomic
        self.label = f"{request.method} {request.path}"[:200]

    def fingerprint(self, policy: Policy) -> bytes:
        return policy.fingerprint(self.request)

    def describe(self, job: Job) -> str:
        key = f" key={job.key.key!r}" if job.key.key else ""
        return f"operation {job.key.operation_id:#018x} (scope {job.scope!r}{key})"

    def settle(self, response: Any, job: Job) -> Settlement:
        """Decide a reply's fate by the seal policy (rendering a deferred response first).

        ``RELEASE`` keeps the view's writes (a reply the policy simply does not seal: streaming, 3xx,
        409...); ``ROLLBACK`` also undoes them in a transaction (the client is told it failed: 5xx,
        a reply too large to store that a rollback undoes).
        """
        if not isinstance(response, HttpResponseBase):
            return Settlement(response, SettleAction.ROLLBACK)  # Django will raise "didn't return an HttpResponse"
        render = getattr(response, "render", None)
        if callable(render) and not getattr(response, "is_rendered", True):
            response = render()
        if response.streaming:
            return Settlement(response, SettleAction.RELEASE)
        status = response.status_code
        policy = job.policy
        if not policy.seals(status):
            return Settlement(response, SettleAction.ROLLBACK if status >= 500 else SettleAction.RELEASE)
        body: bytes = response.content
        if len(body) > policy.max_response_bytes:
            return self._refuse_oversized(len(body), job)
        root, registry = reply_schema()
        data = encode_reply(reply_from_response(response, policy.stored_headers))
        return Settlement(response, SettleAction.SEAL, data, root, registry, status)

    def _refuse_oversized(self, size: int, job: Job) -> Settlement:
        """A reply too large to seal: refused; recorded for the key unless a rollback undid the view.

        Outside a transaction the view's writes are committed already, so releasing the key would let
        a retry run it a second time; the refusal is sealed instead (see ``docs/problems.md``).
        """
        limit = job.policy.max_response_bytes
        recorded = not job.transactional
        log.error(
            "op_store: the %d-byte reply of %s exceeds MAX_RESPONSE_BYTES (%d); %s",
            size,
            self.describe(job),
            limit,
            "its effects stand, so the refusal is sealed in its place" if recorded else "rolled back and released",
        )
        refused = response_too_large(size, limit, recorded=recorded)
        if not recorded:
            return Settlement(refused, SettleAction.ROLLBACK)
        root, registry = reply_schema()
        data = encode_reply(problem_reply(refused))
        return Settlement(refused, SettleAction.SEAL, data, root, registry, refused.status_code)


class ViewWork(_ViewWork):
    """A synchronous view call, inside the ``ATOMIC_REQUESTS`` transactions Django was told not to open."""

    def __init__(self, request: HttpRequest, call: SyncView, atomic: bool, atomic_aliases: Sequence[str]) -> None:
        super().__init__(request, atomic)
        self.call = call
        self.atomic_aliases = atomic_aliases

    def run(self, inside: str | None) -> Any:
        aliases = [alias for alias in self.atomic_aliases if alias != inside]
        return wrap_atomic(self.call, aliases)() if aliases else self.call()


class AsyncViewWork(_ViewWork):
    """An asynchronous view call (never in a transaction)."""

    def __init__(self, request: HttpRequest, call: AsyncView) -> None:
        super().__init__(request, atomic=False)
        self.call = call

    async def run(self) -> Any:
        return await self.call()
