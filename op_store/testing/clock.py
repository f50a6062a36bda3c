"""A fake clock for leases and retention, so a test can make time pass without sleeping.

op_store reads the time in two places: the ORM store, its models' querysets and the maintenance
functions call ``django.utils.timezone.now`` (the store looks it up when it is built, once per
request), and :class:`~op_store.store.InMemoryOperationStore` calls the ``clock`` it was given.
:func:`frozen_time` replaces ``django.utils.timezone.now`` (the one seam patched) with a
:class:`FakeClock`; hand the same clock to an in-memory store. The runner's waits for an in-flight
duplicate (``OP_STORE["WAIT"]``) use the real monotonic clock and are not affected. See
docs/testing.md.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from unittest import mock

__all__ = ["FakeClock", "frozen_time"]

#: Where a fake clock starts unless told otherwise (any fixed instant does: tests must not depend on it).
DEFAULT_START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """An aware UTC clock that stands still until :meth:`advance` moves it; call it for the time."""

    def __init__(self, start: datetime | None = None) -> None:
        start = DEFAULT_START if start is None else start
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime (op_store stores aware UTC times)")
        #: The current time; assign to jump to an instant.
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        return self.now

    def __repr__(self) -> str:
        return f"<FakeClock {self.now.isoformat()}>"

    def advance(self, delta: timedelta | None = None, /, **kwargs: float) -> datetime:
        """Move the clock forward by ``delta`` or ``timedelta(**kwargs)``; returns the new time."""
        step = (delta or timedelta(0)) + timedelta(**kwargs)
        if step < timedelta(0):
            raise ValueError(f"a clock only moves forward, got {step}")
        with self._lock:
            self.now += step
            return self.now


@contextmanager
def frozen_time(clock: FakeClock | None = None) -> Iterator[FakeClock]:
    """Make ``django.utils.timezone.now`` answer ``clock`` (a new one by default) inside the block.

    Stores built inside the block read the fake time; a ``DjangoOperationStore`` built before it
    keeps the real clock it looked up. Code that imported ``now`` by name
    (``from django.utils.timezone import now``) is not affected either.
    """
    from django.utils import timezone

    clock = FakeClock() if clock is None else clock
    with mock.patch.object(timezone, "now", clock):
        yield clock
