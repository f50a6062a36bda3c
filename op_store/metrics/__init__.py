"""Prometheus metrics of the runner and the operations table: the extra ``op-store[metrics]``.

- :mod:`.labels` — the ``outcome`` label each runner outcome counts under (no Prometheus import)
- :mod:`.counts` — admitted / stale / sealed figures that stay cheap on a table of millions of rows
- :mod:`.prometheus` — the metrics themselves, in prometheus-client's default registry

:func:`install` (the app's ``ready()``) turns them on or off as ``OP_STORE["METRICS"]`` says, and
again whenever ``OP_STORE`` changes. prometheus-client is imported only when metrics are on, so
without the extra nothing is imported and the runner's hooks cost one comparison each. The metrics,
their labels and a sample alert: docs/deployment.md, "Metrics".
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from op_store.conf import op_store_settings
from op_store.engine import runner

__all__ = ["apply", "enabled", "install"]


def enabled() -> bool:
    """Whether metrics are on: ``METRICS`` True, or None (the default) with prometheus-client installed."""
    try:
        setting = op_store_settings.METRICS
    except ImproperlyConfigured:
        return False  # an invalid OP_STORE: system check op_store.E001 says what is wrong
    if setting is False:
        return False
    installed = importlib.util.find_spec("prometheus_client") is not None
    if setting and not installed:
        raise ImproperlyConfigured(
            "OP_STORE['METRICS'] is True but prometheus-client is not installed: pip install 'op-store[metrics]'"
        )
    return installed


def apply() -> None:
    """Give the runner the Prometheus observer when metrics are on; take it back when they are off."""
    if enabled():
        from . import prometheus

        runner.observe(prometheus.OBSERVER)
        return
    imported = sys.modules.get(f"{__name__}.prometheus")  # never imported: never installed
    if imported is not None and runner.observer is imported.OBSERVER:
        runner.observe(None)


def _setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "OP_STORE":
        op_store_settings.reload()  # this receiver may run before op_store.conf's own
        apply()


def install() -> None:
    """Apply ``OP_STORE["METRICS"]`` now and whenever ``OP_STORE`` changes (idempotent)."""
    setting_changed.connect(_setting_changed, dispatch_uid="op_store.metrics")
    apply()
