"""Signals sent by the ORM store (and, for replays, by the request lifecycle and the RPC view).

Every signal is sent right after its statement ran, like ``post_save``: inside a transaction the
change is not committed yet, so a receiver that must see committed data wraps its work in
``transaction.on_commit``. ``sender`` is the store class; keyword arguments:

- ``operation_admitted``: ``store, scope, operation_id, token, method, key, lease_expires_at,
  transactional, taken_over`` (True when a stale admission was taken over).
- ``operation_sealed``: ``store, scope, operation_id, response_size, status_code, schemas_written``.
- ``operation_replayed``: ``store, scope, operation_id, key, status_code, request`` (sent by the
  HTTP lifecycle and the RPC view, whatever the store).
- ``operation_removed``: ``store, scope, operation_id, reason`` (``"remove"``, ``"release"``,
  ``"stale"``); ``store`` is None for bulk releases by ``op_store_release``.
- ``operations_purged``: ``using, expired, deleted, dry_run``.

More on each (when it is sent, what is committed by then): docs/signals.md.
"""

from django.dispatch import Signal

operation_admitted = Signal()
operation_sealed = Signal()
operation_replayed = Signal()
operation_removed = Signal()
operations_purged = Signal()

__all__ = [
    "operation_admitted",
    "operation_removed",
    "operation_replayed",
    "operation_sealed",
    "operations_purged",
]
