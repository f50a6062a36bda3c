"""A Python client for RPC services served by an :class:`~op_store.rpc.site.RpcSite` (standard library only).

::

    client = RpcClient("https://example.com/rpc/", Ledger)
    balance = client.proxy.transfer("alice", "bob", 5)     # typed: mypy sees Ledger.transfer
    balance = client.call("transfer", from_="alice", to="bob", amount=5)

Each logical call gets a random u64 operation id (non-idempotent methods only; vox discards ids of
idempotent ones), reused on every retry. A call is retried, with exponential backoff, after a
connection error (refused, reset, closed before the reply, timed out) and after the server's
"try again with the same id" answers: 409 (still running elsewhere), 429, 502, 503 and 504, honouring
``Retry-After`` (capped). Retrying with the same id is what makes this safe: the server runs the method
at most once and replays its sealed reply. A 500 (the method failed) is not retried.

Results: the reply is decoded with the method's static type when its root type (``Vox-Root-Type-Ref``)
is the one the declaration gives; ``Ok(value)`` returns ``value``, ``Err(User(e))`` raises
``UserError(e)``, any other ``VoxError`` raises ``VoxRpcError``. A reply of another root type (an
unknown method, a server whose declaration changed, a reply sealed under older types) is decoded with
``decode_ref`` by schemas alone, fetched by hash from the site's schema endpoint when the client does
not have them (:class:`RemoteSchemaSource`); ``call`` then raises :class:`ReplyTypeMismatch` carrying
the decoded value, and :meth:`RpcClient.call_dynamic` returns it.
"""

from __future__ import annotations

import http.client
import json
import random
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any, Generic, Protocol, TypeVar, cast

from op_store.remote_schemas import RemoteSchemaSource as HttpSchemaSource
from op_store.vox import Concrete, DecodeError, Ok, SchemaSource, TypeRef, decode_ref, format_hash, parse_hash

from .errors import (
    ReplyTypeMismatch,
    RpcProblem,
    RpcTransportError,
    UserError,
    VoxError,
    VoxRpcError,
    vox_error,
)
from .service import MethodSpec, ServiceSpec, describe
from .wire import (
    OPERATION_ID_HEADER,
    POSTCARD,
    REPLAYED_HEADER,
    ROOT_TYPE_HEADER,
    ROOT_TYPE_REF_HEADER,
    SCHEMAS_SEGMENT,
    ChainedSchemaSource,
    parse_type_ref,
)

S = TypeVar("S")

#: HTTP statuses that mean "not done yet, ask again with the same operation id".
RETRY_STATUSES = frozenset({409, 429, 502, 503, 504})
#: Connection-level failures that are retried (the request may or may not have reached the server).
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (urllib.error.URLError, OSError, http.client.HTTPException)


class Opener(Protocol):
    """What ``opener=`` needs: ``urllib.request.OpenerDirector`` fits (cookies, auth and proxy handlers)."""

    def open(self, fullurl: urllib.request.Request, data: None = None, timeout: float = ...) -> Any: ...


class RemoteSchemaSource(HttpSchemaSource):
    """Schemas by hash from an RPC site's schema endpoint, ``<rpc prefix>_schemas/<16 hex>/``, cached for good.

    The fetching and caching of :mod:`op_store.remote_schemas` (the inspection API's source), pointed
    at the RPC prefix, which serves schemas without the API's staff permission.
    """

    def __init__(self, rpc_base_url: str, **kwargs: Any) -> None:
        super().__init__(rpc_base_url, **kwargs)

    def url_for(self, schema_id: int) -> str:
        return f"{self.base_url}{SCHEMAS_SEGMENT}/{format_hash(schema_id)}/"


@dataclass(frozen=True, slots=True)
class RawReply:
    """A reply as received: its postcard bytes, root type and whether the server replayed it."""

    body: bytes
    root: TypeRef
    replayed: bool
    operation_id: int | None
    attempts: int


class RpcClient(Generic[S]):
    """Calls the methods of ``service`` (the same class the server serves) at ``base_url`` (the RPC prefix).

    - ``opener``: a ``urllib.request.OpenerDirector`` (cookies, auth handlers, proxies); default
      ``urllib.request.build_opener()``.
    - ``headers``: sent with every request (``{"Authorization": "Token ..."}``, a session cookie).
    - ``retries``: how many times one call is sent again (0: never); ``backoff`` the first pause in
      seconds, doubled per retry with jitter, at most ``max_backoff``.
    - ``schema_source``: where unknown schemas come from (default: the site's schema endpoint).
    """

    def __init__(
        self,
        base_url: str,
        service: type[S],
        *,
        opener: Opener | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        retries: int = 4,
        backoff: float = 0.05,
        max_backoff: float = 2.0,
        schema_source: SchemaSource | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.spec: ServiceSpec = describe(cast(type, service))
        self.opener: Opener = opener or urllib.request.build_opener()
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.sleep = sleep
        local = [m.registry for m in self.spec.methods.values()]
        remote = schema_source or RemoteSchemaSource(self.base_url, headers=self.headers, timeout=timeout)
        self.schema_source: SchemaSource = ChainedSchemaSource([*local, remote])

    def __repr__(self) -> str:
        return f"<RpcClient {self.spec.name} at {self.base_url}>"

    @property
    def proxy(self) -> S:
        """The service's methods as client calls, typed as the service class (``client.proxy.transfer(...)``)."""
        return cast(S, _Proxy(self))

    def method(self, name: str) -> MethodSpec:
        spec = self.spec.method(name)
        if spec is None:
            raise AttributeError(f"service {self.spec.name} has no method {name!r}")
        return spec

    @staticmethod
    def new_operation_id() -> int:
        """A random u64: unique per logical call with overwhelming probability, and unguessable."""
        return secrets.randbits(64)

    def call(self, method: str, /, *args: Any, **kwargs: Any) -> Any:
        """Call ``method`` with Python arguments; its typed result, or ``UserError``/``VoxRpcError``."""
        spec = self.method(method)
        reply = self.send(spec, spec.bind(args, kwargs))
        return self.result(spec, reply)

    def call_dynamic(self, method: str, /, *args: Any, **kwargs: Any) -> Any:
        """Like :meth:`call`, but the ``Ok`` value is decoded by schemas alone (JSON shapes), whatever its type."""
        spec = self.method(method)
        reply = self.send(spec, spec.bind(args, kwargs))
        return self.dynamic_result(reply)

    def send(self, spec: MethodSpec, args: tuple[Any, ...], *, operation_id: int | None = None) -> RawReply:
        """Encode and send one logical call (retrying as the module docstring says); the raw reply.

        ``operation_id`` defaults to a new random one for a non-idempotent method and none for an
        idempotent one; pass one to resume a call whose outcome a previous process did not learn.
        """
        if operation_id is None and not spec.idempotent:
            operation_id = self.new_operation_id()
        body = spec.args_codec.encode(args)
        return self.post(f"{self.base_url}{spec.wire_service}/{spec.wire_name}", body, operation_id)

    def post(self, url: str, body: bytes, operation_id: int | None) -> RawReply:
        """POST postcard ``body``; retry connection errors and retryable statuses with the same operation id."""
        headers = {**self.headers, "Content-Type": POSTCARD, "Accept": POSTCARD}
        if operation_id is not None:
            headers[OPERATION_ID_HEADER] = str(operation_id)
        attempt = 0
        while True:
            attempt += 1
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            try:
                status, reply_headers, data = self._exchange(request)
            except TRANSPORT_ERRORS as exc:
                if attempt > self.retries:
                    raise RpcTransportError(f"POST {url} failed after {attempt} attempts: {exc}") from exc
                self.sleep(self._pause(attempt, None))
                continue
            if status == 200:
                return RawReply(
                    data, _root_of(reply_headers), reply_headers.get(REPLAYED_HEADER) == "true", operation_id, attempt
                )
            problem = _problem(status, data)
            if status in RETRY_STATUSES and attempt <= self.retries:
                self.sleep(self._pause(attempt, reply_headers.get("Retry-After")))
                continue
            raise RpcProblem(status, problem)

    def _exchange(self, request: urllib.request.Request) -> tuple[int, Message, bytes]:
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.headers, error.read()

    def _pause(self, attempt: int, retry_after: str | None) -> float:
        pause = min(self.max_backoff, self.backoff * 2 ** (attempt - 1)) * (0.5 + random.random())
        seconds = (retry_after or "").strip()
        if seconds.isascii() and seconds.isdigit():  # isdigit alone admits "²", which float() refuses
            pause = max(pause, min(float(seconds), self.max_backoff))
        return pause

    def result(self, spec: MethodSpec, reply: RawReply) -> Any:
        """The typed result of a reply; raises its error, or :class:`ReplyTypeMismatch` for a foreign root type."""
        if reply.root == spec.reply_root:
            try:
                outcome = spec.reply_codec.decode(reply.body)
            except DecodeError as exc:
                raise RpcProblem(200, {"code": "undecodable-reply", "detail": str(exc)}) from exc
            if isinstance(outcome, Ok):
                return outcome.value
            raise _error(outcome.error)
        value = self.dynamic_result(reply)
        raise ReplyTypeMismatch(spec.reply_root, reply.root, value)

    def dynamic_result(self, reply: RawReply) -> Any:
        """The ``Ok`` value decoded by schemas alone; errors raised as by :meth:`result` (User values as JSON)."""
        try:
            decoded = decode_ref(reply.body, reply.root, self.schema_source)
        except DecodeError as exc:
            raise RpcProblem(200, {"code": "undecodable-reply", "detail": str(exc)}) from exc
        if not isinstance(decoded, dict) or decoded.get("variant") not in ("Ok", "Err"):
            raise RpcProblem(200, {"code": "undecodable-reply", "detail": "the reply is not a Result"})
        if decoded["variant"] == "Ok":
            return decoded["value"]
        error = decoded["value"]
        if not isinstance(error, dict) or not isinstance(error.get("variant"), str):
            raise RpcProblem(200, {"code": "undecodable-reply", "detail": "the error is not a VoxError"})
        if error["variant"] == "User":
            raise UserError(error["value"])
        try:
            raise VoxRpcError(vox_error(error["variant"], error.get("value")))
        except ValueError as exc:
            raise RpcProblem(200, {"code": "undecodable-reply", "detail": str(exc)}) from exc


def _error(error: Any) -> Exception:
    if isinstance(error, VoxError.User):
        return UserError(error.value)
    return VoxRpcError(error)


def _root_of(headers: Message) -> TypeRef:
    text = headers.get(ROOT_TYPE_REF_HEADER)
    if text:
        return parse_type_ref(text)
    hex_id = headers.get(ROOT_TYPE_HEADER)
    if hex_id:
        return Concrete(parse_hash(hex_id))
    raise RpcProblem(200, {"code": "undecodable-reply", "detail": f"the reply has no {ROOT_TYPE_REF_HEADER} header"})


def _problem(status: int, data: bytes) -> dict[str, Any]:
    try:
        problem = json.loads(data)
    except ValueError:
        problem = None
    if isinstance(problem, dict):
        return problem
    return {"status": status, "detail": data[:500].decode("utf-8", "replace")}


class _Proxy:
    """``client.proxy.<method>(...)``: attribute access builds the call."""

    def __init__(self, client: RpcClient[Any]) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        spec = self._client.method(name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._client.result(spec, self._client.send(spec, spec.bind(args, kwargs)))

        call.__name__ = spec.name
        call.__doc__ = getattr(getattr(spec.owner, spec.name, None), "__doc__", None)
        return call

    def __dir__(self) -> list[str]:
        return sorted(m.name for m in self._client.spec.methods.values())
