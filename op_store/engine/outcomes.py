"""What the runner tells a transport: every way one request or call can end, as a typed value.

A responder (:mod:`op_store.lifecycle.responder` for HTTP views, :mod:`op_store.rpc.responder` for
RPC calls) turns each outcome into its transport's answer; the runner itself never builds a reply.
No Django import.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from op_store.store.base import LeasedOperationStore, SealedResponse
from op_store.vox import SchemaSource, TypeRef

if TYPE_CHECKING:
    from op_store.problems import ProblemError


class SettleAction(enum.Enum):
    """What becomes of a result the work produced while it owned the operation."""

    #: Seal it: retries get it replayed.
    SEAL = "seal"
    #: Release the admission and keep the work's writes (a result the policy does not seal).
    RELEASE = "release"
    #: Release the admission and, in a transaction, roll the work's writes back (the client is told it failed).
    ROLLBACK = "rollback"


@dataclass(slots=True)
class Settlement:
    """A transport's verdict on a result: the result to hand back, and what to seal (if anything).

    To seal: ``data`` (the encoded reply), its root type and the schemas it needs, and the status
    code recorded with it.
    """

    result: Any
    action: SettleAction
    data: bytes = b""
    root: TypeRef | None = None
    registry: SchemaSource | None = None
    status: int = 0


# --- outcomes ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Untracked:
    """No operation key (none required), or work that needs none: it ran without the store."""

    result: Any


@dataclass(frozen=True, slots=True)
class Executed:
    """The work ran while owning the operation; ``result`` is what the settlement handed back."""

    result: Any
    action: SettleAction


@dataclass(frozen=True, slots=True)
class Replayed:
    """The operation was sealed earlier: answer its stored reply (the work did not run).

    ``store`` holds the schemas of replies sealed under older types; the operation id and scope name
    the operation in log messages.
    """

    sealed: SealedResponse
    store: LeasedOperationStore
    operation_id: int
    scope: str


@dataclass(frozen=True, slots=True)
class InFlight:
    """Another owner is running the operation (and any configured wait ran out)."""


@dataclass(frozen=True, slots=True)
class Indeterminate:
    """A stale admission the policy does not take over: it may or may not have taken effect."""


@dataclass(frozen=True, slots=True)
class Conflict:
    """The key was used for a different request (fingerprints differ)."""


@dataclass(frozen=True, slots=True)
class Expired:
    """The operation completed, but its sealed reply has been purged: it will not run again."""


@dataclass(frozen=True, slots=True)
class MissingKey:
    """The policy requires a key and the request carries none."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """The request was refused before admission (malformed key, refused scope, unfit body...)."""

    error: ProblemError


@dataclass(frozen=True, slots=True)
class OwnershipLost:
    """Another request took the operation over while the work ran in a transaction; its writes rolled back."""


@dataclass(frozen=True, slots=True)
class SealFailed:
    """The result could not be recorded; ``outcome_unknown`` when committing it failed (it may have)."""

    outcome_unknown: bool


Outcome = (
    Untracked
    | Executed
    | Replayed
    | InFlight
    | Indeterminate
    | Conflict
    | Expired
    | MissingKey
    | Rejected
    | OwnershipLost
    | SealFailed
)
