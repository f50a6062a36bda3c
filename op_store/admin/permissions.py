"""Who may do what in the admin.

``OP_STORE["ADMIN_READ_ONLY"]`` (default True): no add, change or delete through admin forms.
Releasing and purging go through the store whatever it says, for users with the permission the
inspection API asks too (the rules are :mod:`op_store.permissions`, shared by both).
"""

from __future__ import annotations

from typing import Any

from django.db.models.options import Options
from django.http import HttpRequest

from op_store import permissions as rules
from op_store.conf import op_store_settings


class ReadOnlyByDefaultMixin:
    """Refuses add/change/delete while ``ADMIN_READ_ONLY`` is set (read at each request, so
    ``override_settings`` applies); view permission is untouched, so pages render read-only."""

    @staticmethod
    def read_only() -> bool:
        return bool(op_store_settings.ADMIN_READ_ONLY)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return not self.read_only() and super().has_add_permission(request, *args)  # type: ignore[misc]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self.read_only() and super().has_change_permission(request, obj)  # type: ignore[misc]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self.read_only() and super().has_delete_permission(request, obj)  # type: ignore[misc]


def may_release(request: HttpRequest, opts: Options[Any] | None = None) -> bool:
    """Releasing an admission goes through the store, which keeps its invariants, so it is allowed
    whatever ``ADMIN_READ_ONLY`` says: to users with ``delete_operation``. (``opts`` is accepted for
    earlier callers; the permission is always op_store's.)"""
    return rules.may_release(request.user)


def may_purge(request: HttpRequest) -> bool:
    """Purging (and seeing what a purge would do) needs ``purge_operations``."""
    return rules.may_purge(request.user)


def may_view_payload(request: HttpRequest, scope: str) -> bool:
    """The reply of an operation in ``scope``: the user's own, or ``view_payload``."""
    return rules.may_view_payload(request.user, scope)
