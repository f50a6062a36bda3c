"""Who may use the inspection API: ``OP_STORE["API_PERMISSION_CLASSES"]`` (staff only by default)."""

from __future__ import annotations

import functools
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from rest_framework.permissions import BasePermission

from op_store.conf import op_store_settings


@functools.cache
def _permission_class(path: str) -> Any:
    try:
        return import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(f"OP_STORE['API_PERMISSION_CLASSES']: cannot import {path!r}: {exc}") from exc


def configured_permissions() -> list[BasePermission]:
    """Instances of the configured classes, read at each request (``override_settings`` applies)."""
    return [_permission_class(path)() for path in op_store_settings.API_PERMISSION_CLASSES]
