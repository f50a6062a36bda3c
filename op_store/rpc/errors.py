"""The errors of an RPC call: vox's ``VoxError<E>`` on the wire, and the exceptions around it.

``VoxError`` is the enum every reply carries in its ``Err`` side, with vox's variants in vox's order
(the postcard variant index): User(E)=0, UnknownMethod=1, InvalidPayload(String)=2, Cancelled=3,
ConnectionClosed=4, SessionShutdown=5, SendFailed=6, Indeterminate=7. A reply is the postcard
encoding of ``Result[T, VoxError[E]]``; ``E`` is the method's declared user error type
(``typing.Never`` when it declares none, vox's ``Infallible``).

A service method signals a user error by raising :class:`UserError` with a value of type ``E``; the
client raises the same class with the decoded value, so ``except UserError as e: e.value`` reads
the same on both sides. Every other vox error reaches a client as :class:`VoxRpcError`.

No Django import: the client uses this module too.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from op_store.vox import TypeRef, Variant, VoxEnum

E = TypeVar("E")


class VoxError(VoxEnum, Generic[E]):
    """vox's ``VoxError<E>``; variant order is the wire order and must not change."""

    User = Variant(E)  # type: ignore[misc]  # a TypeVar as a runtime value: the variant payload is E
    UnknownMethod = Variant()
    InvalidPayload = Variant(str)
    Cancelled = Variant()
    ConnectionClosed = Variant()
    SessionShutdown = Variant()
    SendFailed = Variant()
    Indeterminate = Variant()


#: The vox errors a client may retry with the same operation id (vox's ``is_retryable``).
RETRYABLE_VARIANTS = frozenset({"ConnectionClosed", "SessionShutdown", "SendFailed"})

#: The message vox sends when an operation id is reused for another method or other arguments.
CONFLICT_MESSAGE = "operation ID conflict"


def variant_name(error: Any) -> str:
    """The variant name of a ``VoxError`` value (``"InvalidPayload"``...)."""
    return type(error).__name__


def vox_error(name: str, payload: Any = None) -> Any:
    """A ``VoxError`` value built from its variant name (and payload, for User and InvalidPayload)."""
    variant = getattr(VoxError, name, None)
    if not isinstance(variant, type) or not issubclass(variant, VoxError) or variant is VoxError:
        raise ValueError(f"VoxError has no variant {name!r}")
    if name in ("User", "InvalidPayload"):
        return variant(payload)
    return variant()


class RpcError(Exception):
    """Base class of everything an RPC call raises on purpose."""


class UserError(RpcError, Generic[E]):
    """A user-level error of type ``E``: raise it in a service method, catch it around a client call.

    On the server it becomes ``Err(VoxError.User(value))``, which is sealed like any result (a
    retry gets the same error back). In a method that runs atomically (the default), the method's
    database writes are rolled back first.
    """

    def __init__(self, value: E) -> None:
        super().__init__(value)
        self.value = value

    def __repr__(self) -> str:
        return f"UserError({self.value!r})"


class VoxRpcError(RpcError):
    """A vox error other than User (UnknownMethod, InvalidPayload, Indeterminate...); ``error`` is the variant."""

    def __init__(self, error: Any) -> None:
        self.error = error
        self.variant = variant_name(error)
        message = getattr(error, "value", None)
        super().__init__(f"{self.variant}: {message}" if message is not None else self.variant)

    @property
    def retryable(self) -> bool:
        """vox's ``is_retryable``: only the transport-level variants."""
        return self.variant in RETRYABLE_VARIANTS


class RpcProblem(RpcError):
    """The server answered an HTTP problem (RFC 9457) instead of a reply: a transport-level refusal."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        self.code = str(problem.get("code", ""))
        super().__init__(f"HTTP {status} {self.code}: {problem.get('detail') or problem.get('title') or ''}".strip())


class RpcTransportError(RpcError):
    """The call could not be delivered (connection errors) even after the allowed retries."""


class ReplyTypeMismatch(RpcError):
    """The reply's root type is not the one the client's service declaration expects.

    ``value`` holds the reply decoded by its schemas alone (``decode_ref``'s JSON shapes), so the
    caller can still read it; ``call_dynamic`` returns such values instead of raising.
    """

    def __init__(self, expected: TypeRef, actual: TypeRef, value: Any) -> None:
        super().__init__(f"the reply has root type {actual!r}, the client expected {expected!r}")
        self.expected = expected
        self.actual = actual
        self.value = value
