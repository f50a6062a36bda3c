"""A request that dies right after its admission, as a killed process leaves it.

A worker killed by SIGKILL (or the OOM killer, or a lost machine) after its admission committed
leaves the operation admitted with its lease running and nothing sealed: a retry meets it in
flight, and once the lease has run out it is stale (``indeterminate``, or taken over, as
``OP_STORE["STALE_POLICY"]`` says). :func:`crash_after_admission` makes the next admission end the
request there: the receiver of ``operation_admitted`` raises :class:`SimulatedCrash`, the view never
runs and nothing releases the admission. Advance a :class:`~op_store.testing.FakeClock` past the
lease to see the stale outcome. See docs/testing.md.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["CrashedRequest", "SimulatedCrash", "crash_after_admission"]


class SimulatedCrash(Exception):
    """Raised after an admission in place of the view; :func:`crash_after_admission` swallows it."""


class CrashedRequest:
    """What :func:`crash_after_admission` did: the admission it left behind, if any."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: The ``operation_admitted`` arguments of the crashed admission (``scope``, ``operation_id``...).
        self.admission: dict[str, Any] = {}

    @property
    def happened(self) -> bool:
        return bool(self.admission)

    def _on_admitted(self, sender: Any, **kwargs: Any) -> None:
        with self._lock:
            if self.admission:
                return
            self.admission = {k: v for k, v in kwargs.items() if k != "signal"}
        raise SimulatedCrash(f"simulated crash after admitting operation {kwargs['operation_id']}")


@contextmanager
def crash_after_admission() -> Iterator[CrashedRequest]:
    """Crash the first request admitted inside the block, right after its admission committed.

    The :class:`SimulatedCrash` reaches the caller like any view exception (a test client with
    ``raise_request_exception=False`` answers 500 instead) and is swallowed when it leaves the
    block. Leaving the block without a crash fails the test: nothing was admitted (no key, a replay,
    or a store that sends no ``operation_admitted``, like the in-memory one).
    """
    from op_store.signals import operation_admitted

    crash = CrashedRequest()
    operation_admitted.connect(crash._on_admitted, weak=False)
    try:
        yield crash
    except SimulatedCrash:
        if not crash.happened:
            raise
    finally:
        operation_admitted.disconnect(crash._on_admitted)
    if not crash.happened:
        raise AssertionError("crash_after_admission(): no request was admitted inside the block")
