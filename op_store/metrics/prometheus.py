"""The metrics, in prometheus-client's default registry: importing this module registers them (once).

Python imports a module once per process, so they are registered once whatever calls ``ready()``
(Django's test runner, the autoreloader's fresh process); a project that already serves the default
registry (``django-prometheus``, ``make_wsgi_app``) exports them with no view of its own. What each
metric means: docs/deployment.md, "Metrics".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from django.core.exceptions import SynchronousOnlyOperation
from django.db import DatabaseError
from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from op_store.engine import outcomes as o
from op_store.engine.runner import Job, Work

from . import enabled
from .counts import CAP, STATES, operation_counts
from .labels import OUTCOMES, outcome_label

log = logging.getLogger("op_store.metrics")

#: Values of the ``transport`` label.
TRANSPORTS = ("http", "rpc")

REQUESTS = Counter(
    "op_store_requests",
    "Requests and calls through the exactly-once runner, by how they ended.",
    ["outcome", "transport"],
)
REPLY_SIZE = Histogram(
    "op_store_reply_size_bytes",
    "Size of each reply sealed for replay (the encoded reply the store keeps).",
    ["transport"],
    buckets=(64, 256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304),
)
SEAL_SECONDS = Histogram(
    "op_store_admission_to_seal_seconds",
    "Time from an operation's admission to its sealed reply (committed with the work's transaction).",
    ["transport"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)

# Every series exists from the start at 0, so rate() and alerts see the first increase.
for _transport in TRANSPORTS:
    for _outcome in OUTCOMES:
        REQUESTS.labels(_outcome, _transport)
    REPLY_SIZE.labels(_transport)
    SEAL_SECONDS.labels(_transport)


class PrometheusObserver:
    """The runner's observer (:data:`op_store.engine.runner.observer`): counts outcomes, observes seals.

    Each labelled child is looked up once and kept (``labels()`` takes a lock on every call).
    """

    def __init__(self) -> None:
        self._requests: dict[tuple[str, str], Counter] = {}
        self._sizes: dict[str, Histogram] = {}
        self._seconds: dict[str, Histogram] = {}

    def ended(self, work: Work, outcome: o.Outcome) -> None:
        labels = (outcome_label(outcome), work.transport)
        child = self._requests.get(labels)
        if child is None:
            child = self._requests[labels] = REQUESTS.labels(*labels)
        child.inc()

    def sealed(self, job: Job, settled: o.Settlement) -> None:
        elapsed = time.monotonic() - job.admitted_at
        transport = job.work.transport
        sizes, seconds = self._sizes.get(transport), self._seconds.get(transport)
        if sizes is None or seconds is None:
            sizes = self._sizes[transport] = REPLY_SIZE.labels(transport)
            seconds = self._seconds[transport] = SEAL_SECONDS.labels(transport)
        sizes.observe(len(settled.data))
        seconds.observe(elapsed)


class OperationsCollector(Collector):
    """``op_store_operations{state}`` and ``op_store_operations_estimated{state}``, read at each scrape."""

    def describe(self) -> Iterable[Metric]:
        # Names only: the default registry would otherwise call collect() (a query) on register.
        return self._families()

    def collect(self) -> Iterable[Metric]:
        if not enabled():
            return []
        try:
            figures = operation_counts()
        except (DatabaseError, SynchronousOnlyOperation):
            # The other metrics still get scraped. SynchronousOnlyOperation: a scrape served from an
            # event loop (serve /metrics from a sync view; docs/deployment.md, "Metrics").
            log.exception("op_store: could not count operations for the metrics")
            return []
        count, estimated = self._families()
        for state in STATES:
            count.add_metric([state], figures[state].value)
            estimated.add_metric([state], int(figures[state].estimated))
        return [count, estimated]

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(
                "op_store_operations",
                "Operations in the store's database: admitted (stale included), stale, sealed. Exact up to "
                f"{CAP}, an estimate past it.",
                labels=["state"],
            ),
            GaugeMetricFamily(
                "op_store_operations_estimated",
                f"1 when op_store_operations for this state is an estimate (more than {CAP} rows), else 0.",
                labels=["state"],
            ),
        ]


OBSERVER = PrometheusObserver()
COLLECTOR = OperationsCollector()
REGISTRY.register(COLLECTOR)
