"""Who may inspect, release and purge operations: one set of rules for the admin and the API.

Django's model permissions, checked with ``user.has_perm`` (so superusers pass, inactive users
fail, and authentication backends with object or group rules apply):

- reading operations needs ``op_store.view_operation``; schemas ``op_store.view_schema``;
- releasing an admitted operation, ``op_store.delete_operation``;
- purging (or counting what a purge would do), ``op_store.purge_operations``;
- the reply of an operation outside the user's own scope (and its request fingerprint),
  ``op_store.view_payload`` as well: a user's own scope is ``user:<pk>``, the one the default
  scope resolver gives their requests. Other scopes hold other users' replies.

The admin also requires the staff flag (its site refuses everyone else), and so does the API's
default permission class. docs/settings.md#api_permission_classes tells operators who needs what.
"""

from __future__ import annotations

from typing import Any

VIEW_OPERATION = "op_store.view_operation"
VIEW_SCHEMA = "op_store.view_schema"
RELEASE_OPERATION = "op_store.delete_operation"
PURGE_OPERATIONS = "op_store.purge_operations"
VIEW_PAYLOAD = "op_store.view_payload"

#: The fields of an operation that carry its reply (and a digest of its request).
PAYLOAD_FIELDS = ("response", "fingerprint")


def own_scope(user: Any) -> str | None:
    """The scope the default resolver gives ``user``'s requests (None for an anonymous user)."""
    if user is None or not user.is_authenticated:
        return None
    return f"user:{user.pk}"


def may_view_operations(user: Any) -> bool:
    return bool(user is not None and user.has_perm(VIEW_OPERATION))


def may_view_schemas(user: Any) -> bool:
    return bool(user is not None and user.has_perm(VIEW_SCHEMA))


def may_release(user: Any) -> bool:
    return bool(user is not None and user.has_perm(RELEASE_OPERATION))


def may_purge(user: Any) -> bool:
    return bool(user is not None and user.has_perm(PURGE_OPERATIONS))


def may_view_payload(user: Any, scope: str) -> bool:
    """Whether ``user`` may read the reply of an operation in ``scope``: always in their own scope
    (their own replies), in any other with ``view_operation`` and ``view_payload``."""
    if scope == own_scope(user):
        return True
    return may_view_operations(user) and bool(user.has_perm(VIEW_PAYLOAD))
