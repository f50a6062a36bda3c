"""System checks for the request lifecycle: where ``ExactlyOnceMiddleware`` sits in ``MIDDLEWARE``.

- ``op_store.W040``: it is not after ``AuthenticationMiddleware``; the default scope resolver then
  sees every request as anonymous (keys are refused or kept per session, not per user).
- ``op_store.W041``: a middleware with ``process_view`` comes after it; for keyed requests that
  ``process_view`` never runs (the lifecycle calls the view itself), which for
  ``CsrfViewMiddleware`` means no CSRF check.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, register
from django.core.checks import Warning as CheckWarning
from django.utils.module_loading import import_string

MIDDLEWARE_PATH = "op_store.middleware.ExactlyOnceMiddleware"
AUTH_MIDDLEWARE_PATHS = (
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
)


def _is_ours(path: str) -> bool:
    if path == MIDDLEWARE_PATH:
        return True
    try:
        from op_store.middleware import ExactlyOnceMiddleware

        cls = import_string(path)
    except ImportError:
        return False
    return isinstance(cls, type) and issubclass(cls, ExactlyOnceMiddleware)


@register(Tags.compatibility)
def check_middleware_order(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    middleware = list(getattr(settings, "MIDDLEWARE", None) or [])
    ours = [i for i, path in enumerate(middleware) if _is_ours(path)]
    if not ours:
        return []
    position = ours[0]
    messages: list[CheckMessage] = []
    auth = [i for i, path in enumerate(middleware) if path == AUTH_MIDDLEWARE_PATHS[0]]
    if not auth or auth[0] > position:
        messages.append(
            CheckWarning(
                "ExactlyOnceMiddleware runs before AuthenticationMiddleware (or without it).",
                hint=f"Put {MIDDLEWARE_PATH!r} after {AUTH_MIDDLEWARE_PATHS[0]!r} in MIDDLEWARE: keys are "
                "scoped by the logged-in user, which is unknown before authentication.",
                id="op_store.W040",
            )
        )
    for path in middleware[position + 1 :]:
        if _is_ours(path):
            continue
        try:
            cls = import_string(path)
        except ImportError:
            continue
        if hasattr(cls, "process_view"):
            messages.append(
                CheckWarning(
                    f"{path} comes after ExactlyOnceMiddleware, so its process_view() does not run for "
                    "requests that carry an idempotency key.",
                    hint=f"Move {MIDDLEWARE_PATH!r} below {path!r} (ExactlyOnceMiddleware calls the view "
                    "itself for keyed requests).",
                    id="op_store.W041",
                )
            )
    return messages
