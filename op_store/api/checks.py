"""System check of the inspection API (imports neither DRF nor drf-spectacular).

- ``op_store.W050`` a mounted page needs another app's static files and that app is not in
  INSTALLED_APPS: the API's Swagger UI and Redoc pages without ``drf_spectacular_sidecar``
  would load no script and show a blank page.

Message, hint and fix: docs/checks.md#w050.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register
from django.urls import URLPattern, URLResolver, get_resolver


def _routes(patterns: Any, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    """Every URL pattern under ``patterns``, with the route that reaches it."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern


@register(Tags.urls)
def check_docs_static_files(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if not getattr(settings, "ROOT_URLCONF", None):
        return []
    missing: dict[str, list[str]] = {}
    for route, pattern in _routes(get_resolver().url_patterns):
        app = getattr(getattr(pattern.callback, "view_class", None), "static_files_app", None)
        if app and not apps.is_installed(app):
            missing.setdefault(app, []).append("/" + route)
    return [
        Warning(
            f"{', '.join(routes)} load the static files of {app!r}, which is not in INSTALLED_APPS: "
            "their pages would stay blank.",
            hint=f"Add {app!r} to INSTALLED_APPS (pip install 'op-store[api]' installs it).",
            id="op_store.W050",
        )
        for app, routes in missing.items()
    ]
