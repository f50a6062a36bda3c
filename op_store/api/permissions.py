"""Who may use the inspection API: ``OP_STORE["API_PERMISSION_CLASSES"]``.

The default, :class:`InspectionPermissions`, applies :mod:`op_store.permissions` (the rules the
admin applies too): staff users with the model permission each endpoint and method names in its
view's ``required_permissions``. Whatever the classes, the serializer withholds the replies of
other users' operations from users without ``view_payload``.
"""

from __future__ import annotations

import functools
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from op_store.conf import op_store_settings

#: Methods that read, checked as GET.
READ_METHODS = ("GET", "HEAD", "OPTIONS")


@functools.cache
def _permission_class(path: str) -> Any:
    try:
        return import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(f"OP_STORE['API_PERMISSION_CLASSES']: cannot import {path!r}: {exc}") from exc


def configured_permissions() -> list[BasePermission]:
    """Instances of the configured classes, read at each request (``override_settings`` applies)."""
    return [_permission_class(path)() for path in op_store_settings.API_PERMISSION_CLASSES]


class InspectionPermissions(BasePermission):
    """Active staff users holding every permission the view requires for the request's method.

    A view's ``required_permissions`` maps a method to permission names (``"app.codename"``);
    HEAD and OPTIONS count as GET; a method it serves but does not name is refused. ``None`` instead of a
    tuple (the API root, the OpenAPI document) asks for any op_store permission at all.
    """

    message = "This needs an op_store permission you do not have (see the API's documentation)."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active and user.is_staff):
            return False
        method = "GET" if request.method in READ_METHODS else request.method
        required: dict[str, tuple[str, ...] | None] = getattr(view, "required_permissions", {})
        if method not in required:
            # A method the view does not serve gets DRF's 405; one it serves unlisted is refused.
            return not hasattr(view, method.lower())
        needed = required[method]
        if needed is None:
            return bool(user.has_module_perms("op_store"))
        return bool(user.has_perms(needed))


def first_challenge(request: Request) -> str | None:
    """The ``WWW-Authenticate`` challenge of the first authenticator that offers one.

    DRF asks only the first authenticator, and its defaults put sessions (no challenge) before
    Basic, so a caller without credentials would get 403; with this it gets 401 and a challenge
    it can answer, as RFC 9110 asks."""
    for authenticator in request.authenticators:
        challenge = authenticator.authenticate_header(request)
        if challenge:
            return str(challenge)
    return None
