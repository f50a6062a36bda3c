"""The transactions the runner opens around work, and the connection it gives back while waiting.

Django opens the ``ATOMIC_REQUESTS`` transactions around a view call, after every middleware
``process_view``; a view the runner wraps tells Django not to (see
:func:`op_store._compat.opt_out_of_atomic_requests`) and the runner opens them itself, *after* the
admission committed, exactly as Django would (one ``transaction.atomic`` per alias, in settings
order, honouring ``non_atomic_requests``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.db import connections, transaction

from op_store.store import transactions as store_transactions


def in_caller_transaction(alias: str) -> bool:
    """Whether the caller opened a transaction on ``alias`` that the work then runs in.

    The rule is the store's (:mod:`op_store.store.transactions`), so the two never disagree.
    """
    return store_transactions.in_caller_transaction(connections[alias])


def atomic_request_aliases(declared_non_atomic: Iterable[str] = ()) -> list[str]:
    """Aliases whose ``ATOMIC_REQUESTS`` applies to a view that declared these aliases non-atomic."""
    declared = set(declared_non_atomic)
    return [
        alias for alias, conf in connections.settings.items() if conf.get("ATOMIC_REQUESTS") and alias not in declared
    ]


def wrap_atomic(call: Callable[[], Any], aliases: Iterable[str]) -> Callable[[], Any]:
    """``call`` inside one ``transaction.atomic`` per alias, nested as Django's ``make_view_atomic`` nests them."""
    for alias in aliases:
        call = transaction.atomic(using=alias)(call)
    return call


def release_connection(alias: str | None) -> None:
    """Give the connection back while waiting, unless a transaction still needs it."""
    if alias is not None and not connections[alias].in_atomic_block:
        connections[alias].close()
