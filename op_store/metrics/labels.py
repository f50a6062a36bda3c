"""The ``outcome`` label of ``op_store_requests_total``: every runner outcome counts under one of seven.

The mapping (also in docs/deployment.md, "Metrics") follows what the client was told:

- ``executed``: the work ran (``Executed``, and ``Untracked``: no key, or an idempotent RPC method);
- ``replayed``: a sealed reply was answered again;
- ``in_flight``: another owner holds the operation, retry later (``InFlight``, ``OwnershipLost``);
- ``conflict``: the key was used for another request;
- ``indeterminate``: it may or may not have taken effect (``Indeterminate``, and ``SealFailed``
  when the commit itself failed);
- ``expired``: the sealed reply was purged;
- ``rejected``: refused, nothing took effect (``Rejected``, ``MissingKey``, and ``SealFailed``
  whose writes were rolled back).
"""

from __future__ import annotations

from op_store.engine import outcomes as o

#: Every value of the ``outcome`` label.
OUTCOMES = ("executed", "replayed", "in_flight", "conflict", "indeterminate", "expired", "rejected")

_BY_TYPE: dict[type, str] = {
    o.Executed: "executed",
    o.Untracked: "executed",
    o.Replayed: "replayed",
    o.InFlight: "in_flight",
    o.OwnershipLost: "in_flight",
    o.Conflict: "conflict",
    o.Indeterminate: "indeterminate",
    o.Expired: "expired",
    o.Rejected: "rejected",
    o.MissingKey: "rejected",
}


def outcome_label(outcome: o.Outcome) -> str:
    """The ``outcome`` label ``outcome`` counts under."""
    if isinstance(outcome, o.SealFailed):
        return "indeterminate" if outcome.outcome_unknown else "rejected"
    return _BY_TYPE[type(outcome)]
