"""Concurrent duplicates on threads: a barrier-released race, and a request held in flight.

Each thread has its own database connection, so the database must be one the threads share and
whose committed rows they all see: use ``transactional_db`` (pytest) or ``TransactionTestCase``,
never ``TestCase``, whose rows stay uncommitted in the test's thread. See docs/testing.md.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

__all__ = ["HeldRequest", "concurrently", "in_flight"]

T = TypeVar("T")

#: Seconds a helper waits for a thread before it gives up and fails the test (never hangs it).
DEFAULT_TIMEOUT = 30.0


def close_thread_connections() -> None:
    """Close the database connections this thread opened (Django's and op_store's admission ones)."""
    from django.db import connections

    from op_store.store.orm import close_admission_connections

    close_admission_connections()
    connections.close_all()


def concurrently(n: int, work: Callable[[int], T], *, timeout: float = DEFAULT_TIMEOUT) -> list[T]:
    """Run ``work(0)`` .. ``work(n - 1)`` on ``n`` threads released together; their results in order.

    The first exception of any thread is raised once all have finished; each thread closes its
    database connections when it is done.
    """
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout)
            results[i] = work(i)
        except BaseException as exc:
            errors.append(exc)
        finally:
            close_thread_connections()

    threads = [threading.Thread(target=run, args=(i,), name=f"op_store-race-{i}") for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    if any(thread.is_alive() for thread in threads):
        raise TimeoutError(f"concurrently(): a thread was still running after {timeout} s")
    if errors:
        raise errors[0]
    return results


class HeldRequest(Generic[T]):
    """The first request of :func:`in_flight`: admitted, held before its view runs until released."""

    def __init__(self, send: Callable[[], T], timeout: float) -> None:
        self._send = send
        self._timeout = timeout
        self._admitted = threading.Event()
        self._released = threading.Event()
        self._done = threading.Event()
        self._result: T | None = None
        self._error: BaseException | None = None
        #: The ``operation_admitted`` arguments of its admission (``scope``, ``operation_id``, ``token``...).
        self.admission: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._run, name="op_store-held-request", daemon=True)

    def _run(self) -> None:
        try:
            self._result = self._send()
        except BaseException as exc:
            self._error = exc
        finally:
            close_thread_connections()
            self._done.set()

    def _on_admitted(self, sender: Any, **kwargs: Any) -> None:
        """``operation_admitted`` receiver: hold our thread's first admission (it has committed)."""
        if threading.current_thread() is not self._thread or self._admitted.is_set():
            return
        self.admission = {k: v for k, v in kwargs.items() if k != "signal"}
        self._admitted.set()
        self._released.wait(self._timeout)

    def _wait_until_admitted(self) -> None:
        deadline = time.monotonic() + self._timeout
        while not self._admitted.wait(0.01):
            if self._done.is_set():
                raise AssertionError(
                    "in_flight(): the first request finished without being admitted "
                    f"(no key, a replay, or the view's store sends no operation_admitted); it returned {self._result!r}"
                ) from self._error
            if time.monotonic() > deadline:
                raise TimeoutError(f"in_flight(): the first request was not admitted within {self._timeout} s")

    def release(self) -> T:
        """Let the first request run its view; wait for and return its answer."""
        self._released.set()
        if not self._done.wait(self._timeout):
            raise TimeoutError(f"in_flight(): the first request did not finish within {self._timeout} s")
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]

    @property
    def result(self) -> T:
        """The first request's answer (after the block, or after :meth:`release`)."""
        if not self._done.is_set():
            raise RuntimeError("in_flight(): the first request is still held; release() it or leave the block")
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]


def _require_committed_reads() -> None:
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        if conn.in_atomic_block:
            raise RuntimeError(
                f"in_flight(): database {conn.alias!r} is inside a transaction (TestCase, atomic()); the held "
                "request's thread could not see its rows. Use transactional_db / TransactionTestCase."
            )


@contextmanager
def in_flight(send: Callable[[], T], *, timeout: float = DEFAULT_TIMEOUT) -> Iterator[HeldRequest[T]]:
    """Run ``send()`` on a thread and hold it in flight (admitted, its view not yet run) inside the block.

    A duplicate sent in the block meets the operation in flight. Leaving the block releases the
    first request and waits for its answer (``held.result``); its exception, if any, is raised.
    Holding relies on the ``operation_admitted`` signal, which the ORM store sends.
    """
    from op_store.signals import operation_admitted

    _require_committed_reads()
    held = HeldRequest(send, timeout)
    operation_admitted.connect(held._on_admitted, weak=False)
    try:
        held._thread.start()
        held._wait_until_admitted()
        yield held
    finally:
        held._released.set()
        held._done.wait(timeout)
        operation_admitted.disconnect(held._on_admitted)
    held.release()
