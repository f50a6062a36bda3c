"""Who may do what in the admin.

``OP_STORE["ADMIN_READ_ONLY"]`` (default True): no add, change or delete through admin forms.
Releasing and purging go through the store and need the delete permission (:func:`may_release`).
"""

from __future__ import annotations

from typing import Any

from django.db.models.options import Options
from django.http import HttpRequest

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


def may_release(request: HttpRequest, opts: Options[Any]) -> bool:
    """Releasing an admission (and purging) goes through the store, which keeps its invariants, so
    it is allowed whatever ``ADMIN_READ_ONLY`` says: to users with the model's delete permission."""
    return bool(request.user.has_perm(f"{opts.app_label}.delete_{opts.model_name}"))
